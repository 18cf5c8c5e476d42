package com.shufflenetmobile.demo.core;

import java.util.Locale;

/** The result text the app shows; plain Java so its wording is unit-tested. */
public final class ReportFormatter {
    private ReportFormatter() {}

    public static String format(RunReport r) {
        StringBuilder sb = new StringBuilder();
        RunReport.Image im = r.image;
        sb.append("Image: ").append(im.name).append(" (").append(im.storedWidth).append('x')
                .append(im.storedHeight);
        if (im.sampleSize > 1) {
            sb.append(", decoded 1/").append(im.sampleSize);
        }
        if (im.orientation != ExifOrientation.NORMAL) {
            sb.append(", EXIF orientation ").append(im.orientation);
        }
        sb.append(" -> ").append(im.width).append('x').append(im.height).append(")\n");
        sb.append("Input: ").append(r.input).append('\n');
        sb.append("Output: ").append(r.output).append("\n\n");

        sb.append("Top ").append(r.top.size()).append('\n');
        for (int i = 0; i < r.top.size(); i++) {
            Prediction p = r.top.get(i);
            sb.append(String.format(Locale.ROOT, "%d. %-20s %6.2f %%  (class %d)%n",
                    i + 1, p.label, 100.0 * p.probability, p.index));
        }

        sb.append('\n').append(r.backend.title).append(", ").append(r.threads)
                .append(r.threads == 1 ? " thread" : " threads");
        if (!r.backend.usesThreadCount()) {
            sb.append(" (only for ops left on the CPU)");
        }
        sb.append('\n').append(r.delegation.describe()).append('\n');
        sb.append("Arithmetic: ").append(r.arithmetic).append('\n');
        sb.append(String.format(Locale.ROOT, "Interpreter creation %8.2f ms%s%n", r.creationMs,
                r.createdNow ? "" : " (earlier; session reused)"));
        LatencyBenchmark.Timings t = r.timings;
        sb.append(String.format(Locale.ROOT, "Preprocessing       %8.2f ms (once per tap)%n", r.preprocessMs));
        sb.append(String.format(Locale.ROOT, "First inference     %8.2f ms%s%n", t.firstRunMs,
                r.backend == Backend.GPU && r.createdNow ? " (includes GPU kernel compilation)" : ""));
        sb.append(String.format(Locale.ROOT, "Inference, median of %d runs after %d warm-up:%n",
                t.steady.runs, t.warmup));
        sb.append(String.format(Locale.ROOT, "                    %8.2f ms (min %.2f, max %.2f)%n",
                t.steady.medianMs, t.steady.minMs, t.steady.maxMs));
        return sb.toString();
    }
}
