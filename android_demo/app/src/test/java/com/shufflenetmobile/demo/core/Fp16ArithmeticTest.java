package com.shufflenetmobile.demo.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNull;
import static org.junit.Assert.assertTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import org.junit.Test;

public class Fp16ArithmeticTest {
    /** A Pixel 3's /proc/cpuinfo (Snapdragon 845: Cortex-A75/A55, ARMv8.2 with FP16), first cores. */
    static final String PIXEL3 = "Processor\t: AArch64 Processor rev 12 (aarch64)\nprocessor\t: 0\n"
            + "BogoMIPS\t: 38.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp\n"
            + "CPU part\t: 0x803\n\nprocessor\t: 4\nBogoMIPS\t: 38.00\n"
            + "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp\nCPU part\t: 0x802\n";
    /** A MediaTek MT6735P phone's (Cortex-A53, ARMv8.0: no FP16 arithmetic). */
    static final String A53 = "Processor\t: AArch64 Processor rev 4 (aarch64)\nprocessor\t: 0\n"
            + "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32\nCPU part\t: 0xd03\n\nHardware\t: MT6735P\n";

    @Test
    public void readsTheFeaturesEveryCoreHas() {
        List<String> pixel = Fp16Arithmetic.cpuFeatures(PIXEL3);
        assertEquals(Arrays.asList("fp", "asimd", "evtstrm", "aes", "pmull", "sha1", "sha2", "crc32", "atomics",
                "fphp", "asimdhp"), pixel);
        assertTrue(Fp16Arithmetic.hasFp16(pixel));
        assertFalse(Fp16Arithmetic.hasFp16(Fp16Arithmetic.cpuFeatures(A53)));
        // A core without FP16 in a mixed system means the system has none (the kernel reports the common set).
        String mixed = PIXEL3 + "\nprocessor\t: 7\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32\n";
        assertFalse(Fp16Arithmetic.hasFp16(Fp16Arithmetic.cpuFeatures(mixed)));
        assertEquals(Collections.emptyList(), Fp16Arithmetic.cpuFeatures(""));
    }

    @Test
    public void followsXnnpacksRuleForTheMetadata() {
        assertTrue(Fp16Arithmetic.allowsFp16("fp16accfp16"));
        assertTrue(Fp16Arithmetic.allowsFp16("fp16bf16accfp16"));
        assertFalse(Fp16Arithmetic.allowsFp16("fp16accfp32")); // float16 weights only
        assertFalse(Fp16Arithmetic.allowsFp16("bf16accfp16"));
        assertFalse(Fp16Arithmetic.allowsFp16(null));
        assertFalse(Fp16Arithmetic.allowsFp16("fp16"));
    }

    @Test
    public void saysWhichArithmeticEachBackendRuns() {
        List<String> pixel = Fp16Arithmetic.cpuFeatures(PIXEL3);
        List<String> a53 = Fp16Arithmetic.cpuFeatures(A53);
        String fp16 = Fp16Arithmetic.describe(Backend.XNNPACK, "fp16accfp16", false, pixel);
        assertTrue(fp16, fp16.startsWith("float16 (the model allows float16 (reduced_precision_support=fp16accfp16)"));
        String fallback = Fp16Arithmetic.describe(Backend.XNNPACK, "fp16accfp16", false, a53);
        assertTrue(fallback, fallback.startsWith("float32 (") && fallback.contains("no FP16 arithmetic"));
        assertTrue(Fp16Arithmetic.describe(Backend.CPU, "fp16accfp16", false, pixel).startsWith("float32 ("));
        assertTrue(Fp16Arithmetic.describe(Backend.XNNPACK, "fp16accfp32", false, pixel).startsWith("float32 ("));
        assertTrue(Fp16Arithmetic.describe(Backend.XNNPACK, null, true, pixel).startsWith("int8"));
        assertTrue(Fp16Arithmetic.describe(Backend.GPU, "fp16accfp16", false, pixel).contains("GPU delegate"));
        String unknown = Fp16Arithmetic.describe(Backend.XNNPACK, "fp16accfp16", false, Collections.<String>emptyList());
        assertTrue(unknown, unknown.startsWith("float16 if this CPU has FP16 arithmetic"));
    }

    @Test
    public void readsTheMetadataOfAHandBuiltFlatbuffer() {
        assertEquals("fp16accfp16", Fp16Arithmetic.metadata(model("reduced_precision_support", "fp16accfp16")));
        assertNull(Fp16Arithmetic.metadata(model("min_runtime_version", "2.9.0")));
        try {
            Fp16Arithmetic.metadata(ByteBuffer.wrap(new byte[16]));
            throw new AssertionError("a buffer without the TFL3 identifier was read");
        } catch (IllegalArgumentException expected) {
            assertTrue(expected.getMessage().contains("TFL3"));
        }
    }

    /**
     * The smallest TFLite flatbuffer with one metadata entry: a Model table whose field 4 (buffers) holds two
     * buffers (the empty buffer 0 and the value) and field 6 (metadata) one Metadata {name, buffer: 1}.
     */
    private static ByteBuffer model(String key, String value) {
        ByteBuffer b = ByteBuffer.allocate(512).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0, 16); // root table at 16
        b.put(4, (byte) 'T').put(5, (byte) 'F').put(6, (byte) 'L').put(7, (byte) '3');
        // Model vtable at 0x60: size 18 (7 fields), table size 12; buffers at +4, metadata at +8.
        b.putShort(0x60, (short) 18).putShort(0x62, (short) 12);
        for (int i = 0; i < 7; i++) {
            b.putShort(0x64 + 2 * i, (short) 0);
        }
        b.putShort(0x64 + 2 * 4, (short) 4).putShort(0x64 + 2 * 6, (short) 8);
        b.putInt(16, 16 - 0x60); // soffset to the vtable
        b.putInt(20, 0x80 - 20); // buffers vector
        b.putInt(24, 0x90 - 24); // metadata vector
        b.putInt(0x80, 2).putInt(0x84, 0xa0 - 0x84).putInt(0x88, 0xb0 - 0x88);
        // Buffer tables share one vtable at 0x40 (size 6, one field: data at +4); buffer 0 has no data.
        b.putShort(0x40, (short) 6).putShort(0x42, (short) 8).putShort(0x44, (short) 4);
        b.putShort(0x48, (short) 4).putShort(0x4a, (short) 4);
        b.putInt(0xa0, 0xa0 - 0x48); // buffer 0: vtable without fields
        b.putInt(0xb0, 0xb0 - 0x40).putInt(0xb4, 0xe0 - 0xb4); // buffer 1: data -> 0xe0
        putString(b, 0xe0, value);
        b.putInt(0x90, 1).putInt(0x94, 0xc0 - 0x94); // one Metadata at 0xc0
        // Metadata vtable at 0x50: size 8, fields name at +4, buffer at +8.
        b.putShort(0x50, (short) 8).putShort(0x52, (short) 12).putShort(0x54, (short) 4).putShort(0x56, (short) 8);
        b.putInt(0xc0, 0xc0 - 0x50).putInt(0xc4, 0xf0 - 0xc4).putInt(0xc8, 1);
        putString(b, 0xf0, key);
        return b;
    }

    private static void putString(ByteBuffer b, int at, String s) {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        b.putInt(at, bytes.length);
        for (int i = 0; i < bytes.length; i++) {
            b.put(at + 4 + i, bytes[i]);
        }
    }
}
