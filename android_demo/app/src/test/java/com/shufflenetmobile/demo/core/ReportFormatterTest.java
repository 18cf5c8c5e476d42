package com.shufflenetmobile.demo.core;

import static org.junit.Assert.assertTrue;

import java.util.Arrays;
import java.util.Locale;
import org.junit.Test;

public class ReportFormatterTest {
    @Test
    public void showsClassesProbabilitiesAndLatencyInAnyLocale() {
        Locale saved = Locale.getDefault();
        Locale.setDefault(Locale.GERMANY); // decimal comma, which must not leak into the report
        try {
            final long[] clock = {0};
            LatencyBenchmark.Timings t = LatencyBenchmark.run(new LatencyBenchmark.Step() {
                @Override
                public void preprocess() {
                    clock[0] += 1_250_000;
                }

                @Override
                public void infer() {
                    clock[0] += 2_500_000;
                }
            }, 2, 20, new LatencyBenchmark.Clock() {
                @Override
                public long nanoTime() {
                    return clock[0];
                }
            });
            String text = ReportFormatter.format(
                    Arrays.asList(new Prediction(3, "cat", 0.875), new Prediction(5, "dog", 0.0625)),
                    t, Backend.GPU, 4);
            assertTrue(text, text.contains("Top 2"));
            assertTrue(text, text.contains("1. cat"));
            assertTrue(text, text.contains("87.50 %"));
            assertTrue(text, text.contains("(class 5)"));
            assertTrue(text, text.contains("GPU delegate, 4 threads"));
            assertTrue(text, text.contains("median of 20 runs after 2 warm-up"));
            assertTrue(text, text.contains("preprocessing     1.25 ms"));
            assertTrue(text, text.contains("inference         2.50 ms"));
            assertTrue(text, text.contains("total             3.75 ms"));
        } finally {
            Locale.setDefault(saved);
        }
    }
}
