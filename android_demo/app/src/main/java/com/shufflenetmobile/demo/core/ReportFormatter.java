package com.shufflenetmobile.demo.core;

import java.util.List;
import java.util.Locale;

/** The result text the app shows; plain Java so its wording is unit-tested. */
public final class ReportFormatter {
    private ReportFormatter() {}

    public static String format(List<Prediction> top, LatencyBenchmark.Timings t, Backend backend, int threads) {
        StringBuilder sb = new StringBuilder();
        sb.append("Top ").append(top.size()).append('\n');
        for (int i = 0; i < top.size(); i++) {
            Prediction p = top.get(i);
            sb.append(String.format(Locale.ROOT, "%d. %-20s %6.2f %%  (class %d)%n",
                    i + 1, p.label, 100.0 * p.probability, p.index));
        }
        sb.append('\n').append(backend.title).append(", ").append(threads)
                .append(threads == 1 ? " thread" : " threads").append('\n');
        sb.append(String.format(Locale.ROOT, "Latency, median of %d runs after %d warm-up:%n",
                t.total.runs, t.warmup));
        sb.append(String.format(Locale.ROOT, "  preprocessing %8.2f ms%n", t.preprocess.medianMs));
        sb.append(String.format(Locale.ROOT, "  inference     %8.2f ms%n", t.inference.medianMs));
        sb.append(String.format(Locale.ROOT, "  total         %8.2f ms (min %.2f, max %.2f)%n",
                t.total.medianMs, t.total.minMs, t.total.maxMs));
        return sb.toString();
    }
}
