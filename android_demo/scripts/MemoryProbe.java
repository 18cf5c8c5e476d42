import com.shufflenetmobile.demo.core.ImagePreprocessor;
import com.shufflenetmobile.demo.core.PreprocessingSpec;
import com.shufflenetmobile.demo.core.TensorSpec;

import java.io.File;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;

/**
 * One preprocessing run of the app's plain-Java code on decoded pixels, for benchmark_memory.py (which
 * runs it under shrinking -Xmx to find the smallest heap it fits in). Compiles against the core
 * classes of today's code and of the code before issue 15 alike (the same public API).
 *
 * <pre>MemoryProbe pixels|run PREP_JSON ARGB.bin WIDTH HEIGHT</pre>
 * ARGB.bin holds WIDTH x HEIGHT little-endian ints, what Bitmap.getPixels returns; it is memory-mapped,
 * so only the app's own int[] of pixels lands on the heap. "pixels" stops after loading them.
 * Prints one JSON line: allocated bytes (this thread) and the sum of the heap pools' peak usage.
 */
public final class MemoryProbe {
    public static void main(String[] a) throws IOException {
        String json = new String(Files.readAllBytes(new File(a[1]).toPath()), StandardCharsets.UTF_8);
        int w = Integer.parseInt(a[3]);
        int h = Integer.parseInt(a[4]);
        PreprocessingSpec spec = PreprocessingSpec.fromJson(json);
        TensorSpec input = new TensorSpec(new int[] {1, spec.cropHeight, spec.cropWidth, 3},
                TensorSpec.DType.FLOAT32, 0f, 0);
        ImagePreprocessor pre = new ImagePreprocessor(spec, input);
        java.nio.ByteBuffer buffer = pre.allocateInput(); // direct: outside the Java heap, as in the app

        com.sun.management.ThreadMXBean threads = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long id = Thread.currentThread().getId();
        for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
            pool.resetPeakUsage();
        }
        long before = threads.getThreadAllocatedBytes(id);
        int[] argb = new int[w * h];
        RandomAccessFile file = new RandomAccessFile(a[2], "r");
        try {
            MappedByteBuffer map = file.getChannel().map(FileChannel.MapMode.READ_ONLY, 0, 4L * w * h);
            map.order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(argb);
        } finally {
            file.close();
        }
        if (a[0].equals("run")) {
            pre.process(argb, w, h, buffer);
        }
        long allocated = threads.getThreadAllocatedBytes(id) - before;
        long peak = 0;
        for (MemoryPoolMXBean pool : ManagementFactory.getMemoryPoolMXBeans()) {
            if (pool.getType() == MemoryType.HEAP) {
                peak += pool.getPeakUsage().getUsed();
            }
        }
        System.out.println("{\"ok\": true, \"allocated_bytes\": " + allocated + ", \"peak_pool_bytes\": " + peak
                + ", \"checksum\": " + buffer.getFloat(0) + "}");
    }
}
