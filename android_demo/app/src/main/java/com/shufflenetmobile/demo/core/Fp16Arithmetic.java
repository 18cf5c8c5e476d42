package com.shufflenetmobile.demo.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Which arithmetic a backend runs the model in: float16 or float32.
 *
 * <p>A .tflite file allows float16 arithmetic through its {@code reduced_precision_support} metadata
 * ({@code fp16accfp16}, written by shufflenet-export's float16-arithmetic file). LiteRT's XNNPACK delegate
 * reads it itself when it prepares the model and then computes in float16 on a CPU with the ARMv8.2 FP16
 * arithmetic extension (Linux hwcaps {@code fphp} and {@code asimdhp}: Cortex-A55/A75 and later), in float32
 * elsewhere. The Java Interpreter API needs no option for it (and has none to force it): choosing XNNPACK is
 * enough. The built-in kernels (XNNPACK off) always compute in float32; the GPU and NNAPI delegates choose
 * their own precision.
 *
 * <p>The metadata is read from the model's own bytes (the flatbuffer's {@code Model.metadata} table), the CPU
 * features from {@code /proc/cpuinfo}, so the report says what the phone really does with this file.
 */
public final class Fp16Arithmetic {
    public static final String METADATA_KEY = "reduced_precision_support";

    private Fp16Arithmetic() {}

    /**
     * The model's {@code reduced_precision_support} metadata, or null when it has none.
     *
     * @throws IllegalArgumentException when the bytes are not a TFLite flatbuffer
     */
    public static String metadata(ByteBuffer model) {
        ByteBuffer b = model.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        b.position(0);
        if (b.limit() < 8 || b.get(4) != 'T' || b.get(5) != 'F' || b.get(6) != 'L' || b.get(7) != '3') {
            throw new IllegalArgumentException("not a TFLite model (no TFL3 identifier)");
        }
        int root = b.getInt(0);
        int metadata = field(b, root, 6); // Model.metadata: [Metadata]
        int buffers = field(b, root, 4); // Model.buffers: [Buffer]
        if (metadata == 0 || buffers == 0) {
            return null;
        }
        int vector = deref(b, metadata);
        for (int i = 0, n = b.getInt(vector); i < n; i++) {
            int entry = deref(b, vector + 4 + 4 * i);
            int name = field(b, entry, 0);
            if (name == 0 || !METADATA_KEY.equals(string(b, deref(b, name)))) {
                continue;
            }
            int index = field(b, entry, 1);
            long bufferIndex = index == 0 ? 0 : b.getInt(index) & 0xffffffffL;
            int bufferVector = deref(b, buffers);
            if (bufferIndex >= b.getInt(bufferVector)) {
                return null;
            }
            int buffer = deref(b, bufferVector + 4 + 4 * (int) bufferIndex);
            int data = field(b, buffer, 0); // Buffer.data: [ubyte]
            return data == 0 ? "" : string(b, deref(b, data));
        }
        return null;
    }

    /**
     * XNNPACK's rule: float16 inference and float16 accumulation both allowed ({@code fp16accfp16}; the
     * float16-weights file's {@code fp16accfp32} keeps float32 arithmetic). The string lists the inference
     * types before "acc" and the accumulation types after it.
     */
    public static boolean allowsFp16(String metadata) {
        if (metadata == null) {
            return false;
        }
        int acc = metadata.indexOf("acc");
        return acc >= 0 && metadata.substring(0, acc).contains("fp16") && metadata.substring(acc + 3).contains("fp16");
    }

    /** The features every core lists in {@code /proc/cpuinfo} ("Features" lines, one per core on arm64). */
    public static List<String> cpuFeatures(String procCpuinfo) {
        Set<String> common = null;
        List<String> first = new ArrayList<>();
        for (String line : procCpuinfo.split("\n")) {
            int colon = line.indexOf(':');
            if (colon < 0 || !line.substring(0, colon).trim().equals("Features")) {
                continue;
            }
            Set<String> names = new LinkedHashSet<>();
            for (String f : line.substring(colon + 1).trim().split("\\s+")) {
                if (!f.isEmpty()) {
                    names.add(f);
                }
            }
            if (common == null) {
                common = names;
                first.addAll(names);
            } else {
                common.retainAll(names);
            }
        }
        List<String> out = new ArrayList<>();
        for (String f : first) {
            if (common.contains(f)) {
                out.add(f);
            }
        }
        return out;
    }

    /** Whether a CPU with these features has the FP16 arithmetic XNNPACK's float16 kernels need. */
    public static boolean hasFp16(List<String> features) {
        return features.contains("fphp") && features.contains("asimdhp");
    }

    /** One line for the report: the arithmetic this backend runs the model in, and why. */
    public static String describe(Backend backend, String metadata, boolean integerModel, List<String> features) {
        if (backend == Backend.GPU) {
            return "the GPU delegate's own (LiteRT's recommended options for this GPU)";
        }
        if (backend == Backend.NNAPI) {
            return "the NNAPI driver's own";
        }
        if (integerModel) {
            return "int8 (a full-integer model)";
        }
        if (!allowsFp16(metadata)) {
            return "float32 (the model does not allow float16 arithmetic)";
        }
        String allows = String.format(Locale.ROOT, "the model allows float16 (%s=%s)", METADATA_KEY, metadata);
        if (backend == Backend.CPU) {
            return "float32 (" + allows + ", but LiteRT's built-in kernels compute in float32; choose XNNPACK)";
        }
        if (features.isEmpty()) {
            return "float16 if this CPU has FP16 arithmetic (" + allows + "; the CPU's features could not be read)";
        }
        if (hasFp16(features)) {
            return "float16 (" + allows + " and this CPU has FP16 arithmetic: XNNPACK computes in half precision)";
        }
        return "float32 (" + allows + ", but this CPU has no FP16 arithmetic, ARMv8.2 fphp/asimdhp: XNNPACK"
                + " computes in float32)";
    }

    /** The position a table's field points at (its value for scalars, the offset slot for references); 0: absent. */
    private static int field(ByteBuffer b, int table, int index) {
        int vtable = table - b.getInt(table);
        int vtableSize = b.getShort(vtable) & 0xffff;
        int slot = 4 + 2 * index;
        if (slot >= vtableSize) {
            return 0;
        }
        int offset = b.getShort(vtable + slot) & 0xffff;
        return offset == 0 ? 0 : table + offset;
    }

    /** Follows the unsigned offset stored at {@code position}. */
    private static int deref(ByteBuffer b, int position) {
        return position + b.getInt(position);
    }

    private static String string(ByteBuffer b, int vector) {
        int n = b.getInt(vector);
        byte[] bytes = new byte[n];
        for (int i = 0; i < n; i++) {
            bytes[i] = b.get(vector + 4 + i);
        }
        return new String(bytes, StandardCharsets.UTF_8);
    }
}
