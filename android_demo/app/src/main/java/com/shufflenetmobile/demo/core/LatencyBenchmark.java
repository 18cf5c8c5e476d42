package com.shufflenetmobile.demo.core;

/**
 * Times preprocessing and inference separately: {@code warmup} untimed rounds (first runs pay for
 * allocation, caches, delegate compilation), then {@code runs} timed ones summarised by their median.
 */
public final class LatencyBenchmark {
    /** One round of work, in two timed halves. */
    public interface Step {
        void preprocess();

        void infer();
    }

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
        public final LatencyStats preprocess;
        public final LatencyStats inference;
        public final LatencyStats total;
        public final int warmup;

        Timings(LatencyStats preprocess, LatencyStats inference, LatencyStats total, int warmup) {
            this.preprocess = preprocess;
            this.inference = inference;
            this.total = total;
            this.warmup = warmup;
        }
    }

    private LatencyBenchmark() {}

    public static Timings run(Step step, int warmup, int runs, Clock clock) {
        if (warmup < 0 || runs < 1) {
            throw new IllegalArgumentException("need warmup >= 0 and runs >= 1");
        }
        for (int i = 0; i < warmup; i++) {
            step.preprocess();
            step.infer();
        }
        long[] pre = new long[runs];
        long[] inf = new long[runs];
        long[] tot = new long[runs];
        for (int i = 0; i < runs; i++) {
            long t0 = clock.nanoTime();
            step.preprocess();
            long t1 = clock.nanoTime();
            step.infer();
            long t2 = clock.nanoTime();
            pre[i] = t1 - t0;
            inf[i] = t2 - t1;
            tot[i] = t2 - t0;
        }
        return new Timings(LatencyStats.ofNanos(pre), LatencyStats.ofNanos(inf), LatencyStats.ofNanos(tot), warmup);
    }
}
