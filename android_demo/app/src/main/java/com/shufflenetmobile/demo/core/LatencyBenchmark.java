package com.shufflenetmobile.demo.core;

/**
 * Times inference on an input prepared once: the first run on its own (it pays for lazy allocation
 * and, on the GPU, for compiling the kernels), then {@code warmup} untimed runs, then {@code runs}
 * timed ones summarised by their median (the steady state).
 */
public final class LatencyBenchmark {
    /** A monotonic clock; {@link #SYSTEM} everywhere except tests. */
    public interface Clock {
        long nanoTime();
    }

    public static final Clock SYSTEM = new Clock() {
        @Override
        public long nanoTime() {
            return System.nanoTime();
        }
    };

    public static final class Timings {
        /** The very first inference of this interpreter, milliseconds. */
        public final double firstRunMs;
        /** The timed runs after the first one and the warm-up. */
        public final LatencyStats steady;
        public final int warmup;

        Timings(double firstRunMs, LatencyStats steady, int warmup) {
            this.firstRunMs = firstRunMs;
            this.steady = steady;
            this.warmup = warmup;
        }
    }

    private LatencyBenchmark() {}

    /** {@code infer} is one inference on the already filled input buffer. */
    public static Timings run(Runnable infer, int warmup, int runs, Clock clock) {
        if (warmup < 0 || runs < 1) {
            throw new IllegalArgumentException("need warmup >= 0 and runs >= 1");
        }
        long t0 = clock.nanoTime();
        infer.run();
        double first = (clock.nanoTime() - t0) / 1e6;
        for (int i = 0; i < warmup; i++) {
            infer.run();
        }
        long[] times = new long[runs];
        for (int i = 0; i < runs; i++) {
            long a = clock.nanoTime();
            infer.run();
            times[i] = clock.nanoTime() - a;
        }
        return new Timings(first, LatencyStats.ofNanos(times), warmup);
    }

    /** Milliseconds taken by {@code work}, once. */
    public static double timeOnce(Runnable work, Clock clock) {
        long t0 = clock.nanoTime();
        work.run();
        return (clock.nanoTime() - t0) / 1e6;
    }
}
