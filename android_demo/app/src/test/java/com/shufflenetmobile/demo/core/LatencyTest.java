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

    /** Preprocessing takes 1 ms and inference 2 ms per call, on a clock that only moves when asked. */
    private static final class FakeWork implements LatencyBenchmark.Step, LatencyBenchmark.Clock {
        long now;
        int preprocessCalls;
        int inferCalls;

        @Override
        public void preprocess() {
            preprocessCalls++;
            now += 1_000_000;
        }

        @Override
        public void infer() {
            inferCalls++;
            now += 2_000_000 + (inferCalls % 2) * 1_000_000; // alternates 3 ms and 2 ms
        }

        @Override
        public long nanoTime() {
            return now;
        }
    }

    @Test
    public void benchmarkTimesEachPhaseAfterWarmup() {
        FakeWork work = new FakeWork();
        LatencyBenchmark.Timings t = LatencyBenchmark.run(work, 3, 5, work);
        assertEquals(8, work.preprocessCalls);
        assertEquals(8, work.inferCalls);
        assertEquals(5, t.total.runs);
        assertEquals(3, t.warmup);
        assertEquals(1.0, t.preprocess.medianMs, 0.0);
        // Timed infer calls 4..8 take 2, 3, 2, 3, 2 ms.
        assertEquals(2.0, t.inference.medianMs, 0.0);
        assertEquals(3.0, t.inference.maxMs, 0.0);
        assertEquals(3.0, t.total.medianMs, 0.0);
    }

    @Test(expected = IllegalArgumentException.class)
    public void needsAtLeastOneRun() {
        FakeWork work = new FakeWork();
        LatencyBenchmark.run(work, 0, 0, work);
    }
}
