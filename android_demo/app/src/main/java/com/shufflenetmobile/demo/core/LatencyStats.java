package com.shufflenetmobile.demo.core;

import java.util.Arrays;
import java.util.Locale;

/** Summary of repeated timings in nanoseconds; the median is the headline number (robust to outliers). */
public final class LatencyStats {
    public final int runs;
    public final double medianMs;
    public final double minMs;
    public final double maxMs;
    public final double meanMs;

    private LatencyStats(int runs, double medianMs, double minMs, double maxMs, double meanMs) {
        this.runs = runs;
        this.medianMs = medianMs;
        this.minMs = minMs;
        this.maxMs = maxMs;
        this.meanMs = meanMs;
    }

    /** Median as NumPy computes it: the mean of the two middle values for an even count. */
    public static LatencyStats ofNanos(long[] nanos) {
        if (nanos.length == 0) {
            throw new IllegalArgumentException("no timings");
        }
        long[] s = nanos.clone();
        Arrays.sort(s);
        int n = s.length;
        double median = n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + (double) s[n / 2]) / 2.0;
        double sum = 0;
        for (long v : s) {
            sum += v;
        }
        return new LatencyStats(n, median / 1e6, s[0] / 1e6, s[n - 1] / 1e6, sum / n / 1e6);
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, "median %.2f ms (min %.2f, max %.2f, %d runs)", medianMs, minMs, maxMs, runs);
    }
}
