package com.shufflenetmobile.demo.core;

import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import java.util.Arrays;
import java.util.Locale;
import org.junit.Test;

public class ReportFormatterTest {
    private static RunReport report(Backend backend, int threads, Delegation delegation, boolean createdNow,
                                    RunReport.Image image) {
        LatencyTest.FakeInference work = new LatencyTest.FakeInference();
        LatencyBenchmark.Timings t = LatencyBenchmark.run(work, 2, 20, work);
        return new RunReport(image, "[1, 32, 32, 3] INT8", "[1, 10] INT8",
                Arrays.asList(new Prediction(3, "cat", 0.875), new Prediction(5, "dog", 0.0625)),
                backend, threads, delegation, "float16 (the model allows float16)", 123.456, createdNow, 1.25, t);
    }

    private static final RunReport.Image PHOTO = new RunReport.Image("IMG_1.jpg", 4032, 3024, 8, 6, 378, 504);

    @Test
    public void showsClassesWhatRanAndTheTimesInAnyLocale() {
        Locale saved = Locale.getDefault();
        Locale.setDefault(Locale.GERMANY); // decimal comma, which must not leak into the report
        try {
            String text = ReportFormatter.format(report(Backend.GPU, 4, new Delegation(Backend.GPU, 160, 1), true,
                    PHOTO));
            assertTrue(text, text.contains("Image: IMG_1.jpg (4032x3024, decoded 1/8, EXIF orientation 6 -> 378x504)"));
            assertTrue(text, text.contains("Top 2"));
            assertTrue(text, text.contains("1. cat"));
            assertTrue(text, text.contains("87.50 %"));
            assertTrue(text, text.contains("(class 5)"));
            assertTrue(text, text.contains("GPU delegate, 4 threads (only for ops left on the CPU)"));
            assertTrue(text, text.contains("GPU delegate applied: 160 ops -> 1 node (the whole graph runs in the"
                    + " delegate)"));
            assertTrue(text, text.contains("Arithmetic: float16 (the model allows float16)\n"));
            assertTrue(text, text.contains("Interpreter creation   123.46 ms\n"));
            assertTrue(text, text.contains("Preprocessing           1.25 ms (once per tap)"));
            assertTrue(text, text.contains("First inference        50.00 ms (includes GPU kernel compilation)"));
            assertTrue(text, text.contains("median of 20 runs after 2 warm-up"));
            assertTrue(text, text.contains("2.50 ms (min 2.00, max 3.00)"));
        } finally {
            Locale.setDefault(saved);
        }
    }

    @Test
    public void aReusedSessionSaysSoAndClaimsNoCompilation() {
        RunReport.Image sample = new RunReport.Image("chelsea.png", 451, 300, 1, 1, 451, 300);
        String text = ReportFormatter.format(report(Backend.XNNPACK, 1, new Delegation(Backend.XNNPACK, 160, 160),
                false, sample));
        assertTrue(text, text.contains("Image: chelsea.png (451x300 -> 451x300)"));
        assertTrue(text, text.contains("CPU + XNNPACK, 1 thread\n"));
        assertTrue(text, text.contains("CPU + XNNPACK NOT applied: the plan still has 160 nodes for 160 ops"));
        assertTrue(text, text.contains("(earlier; session reused)"));
        assertFalse(text, text.contains("compilation"));
    }
}
