package com.shufflenetmobile.demo.core;

import static org.junit.Assert.assertTrue;
import static org.junit.Assume.assumeTrue;

import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import org.junit.Test;

/**
 * The preprocessing allocates buffers sized to its output (the crop's rows at the source width, then the
 * crop), not copies of the whole photo: measured with the JVM's per-thread allocation counter.
 */
public class BufferSizeTest {
    private static long allocated() {
        return ((com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean())
                .getThreadAllocatedBytes(Thread.currentThread().getId());
    }

    @Test
    public void oneRunAllocatesAboutTheOutputNotThePhoto() {
        assumeTrue("needs HotSpot's allocation counter",
                ManagementFactory.getThreadMXBean() instanceof com.sun.management.ThreadMXBean);
        int w = 4000;
        int h = 3000; // 12 MP, as if decoded at full size
        int[] argb = new int[w * h];
        for (int i = 0; i < argb.length; i++) {
            argb[i] = 0xFF000000 | (i * 7919);
        }
        PreprocessingSpec spec = PreprocessingSpec.fromJson("{\"resize\": 256, \"crop\": [224, 224]}");
        TensorSpec input = new TensorSpec(new int[] {1, 224, 224, 3}, TensorSpec.DType.FLOAT32, 0f, 0);
        ImagePreprocessor pre = new ImagePreprocessor(spec, input);
        ByteBuffer buffer = pre.allocateInput();
        pre.process(argb, w, h, buffer); // loads the classes
        long before = allocated();
        pre.process(argb, w, h, buffer);
        long used = allocated() - before;

        long rows = AntialiasResize.rowBufferBytes(w, 224); // 224 x 4000 x 3 bytes = 2.7 MB
        long crop = 224L * 224 * 3 * 4;
        // Filter taps and array headers are small; the old code allocated 12M ints and 36M doubles here.
        assertTrue("allocated " + used + " bytes", used < rows + crop + 512 * 1024);
        // An eighth of the photo's own ARGB array (48 MB), against 3.5x that array before.
        assertTrue("allocated " + used + " bytes", used < (long) w * h * 4 / 8);
    }
}
