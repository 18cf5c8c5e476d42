package com.shufflenetmobile.demo.core;

import static org.junit.Assert.assertEquals;

import org.junit.Test;

public class LatencyTest {
    @Test
    public void medianLikeNumpy() {
        assertEquals(3.0, LatencyStats.ofNanos(new long[] {5_000_000, 1_000_000, 3_000_000}).medianMs, 0.0);
        LatencyStats even = LatencyStats.ofNanos(new long[] {4_000_000, 1_000_000, 2_000_000, 100_000_000});
        assertEquals(3.0, even.medianMs, 0.0);
        assertEquals(1.0, even.minMs, 0.0);
        assertEquals(100.0, even.maxMs, 0.0);
        assertEquals(26.75, even.meanMs, 1e-12);
        assertEquals(4, even.runs);
    }

    @Test(expected = IllegalArgumentException.class)
    public void noTimingsIsAnError() {
        LatencyStats.ofNanos(new long[0]);
    }

    /** The first inference takes 50 ms (kernel compilation), later ones alternate 3 ms and 2 ms. */
    static final class FakeInference implements Runnable, LatencyBenchmark.Clock {
        long now;
        int calls;

        @Override
        public void run() {
            calls++;
            now += calls == 1 ? 50_000_000 : 2_000_000 + (calls % 2) * 1_000_000;
        }

        @Override
        public long nanoTime() {
            return now;
        }
    }

    @Test
    public void firstRunIsReportedApartFromTheSteadyState() {
        FakeInference work = new FakeInference();
        LatencyBenchmark.Timings t = LatencyBenchmark.run(work, 3, 5, work);
        assertEquals(1 + 3 + 5, work.calls);
        assertEquals(50.0, t.firstRunMs, 0.0);
        assertEquals(5, t.steady.runs);
        assertEquals(3, t.warmup);
        // Timed calls 5..9 take 3, 2, 3, 2, 3 ms: the 50 ms first run is not among them.
        assertEquals(3.0, t.steady.medianMs, 0.0);
        assertEquals(2.0, t.steady.minMs, 0.0);
        assertEquals(3.0, t.steady.maxMs, 0.0);
    }

    @Test
    public void timeOnceRunsTheWorkOnce() {
        FakeInference work = new FakeInference();
        assertEquals(50.0, LatencyBenchmark.timeOnce(work, work), 0.0);
        assertEquals(1, work.calls);
    }

    @Test(expected = IllegalArgumentException.class)
    public void needsAtLeastOneRun() {
        FakeInference work = new FakeInference();
        LatencyBenchmark.run(work, 0, 0, work);
    }
}
