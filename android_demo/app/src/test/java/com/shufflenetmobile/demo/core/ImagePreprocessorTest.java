package com.shufflenetmobile.demo.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;

import java.nio.ByteBuffer;
import org.junit.Test;

public class ImagePreprocessorTest {
    /** Identity normalisation, so the float input equals the pixel values. */
    private static final String RAW = "{\"resize\": 2, \"crop\": [2, 2], \"scale\": 1.0}";

    /** 2 x 2 ARGB image: pixel i has red 10+i, green 20+i, blue 30+i (alpha varies and is ignored). */
    private static int[] argb() {
        int[] p = new int[4];
        for (int i = 0; i < 4; i++) {
            p[i] = ((i * 60) << 24) | ((10 + i) << 16) | ((20 + i) << 8) | (30 + i);
        }
        return p;
    }

    private static float[] floats(ByteBuffer b) {
        float[] out = new float[b.capacity() / 4];
        b.rewind();
        b.asFloatBuffer().get(out);
        return out;
    }

    @Test
    public void writesNhwc() {
        TensorSpec in = new TensorSpec(new int[] {1, 2, 2, 3}, TensorSpec.DType.FLOAT32, 0f, 0);
        ImagePreprocessor p = new ImagePreprocessor(PreprocessingSpec.fromJson(RAW), in);
        ByteBuffer b = p.allocateInput();
        p.process(argb(), 2, 2, b);
        assertArrayEquals(new float[] {10, 20, 30, 11, 21, 31, 12, 22, 32, 13, 23, 33}, floats(b), 0f);
    }

    @Test
    public void writesNchw() {
        TensorSpec in = new TensorSpec(new int[] {1, 3, 2, 2}, TensorSpec.DType.FLOAT32, 0f, 0);
        ImagePreprocessor p = new ImagePreprocessor(PreprocessingSpec.fromJson(RAW), in);
        ByteBuffer b = p.allocateInput();
        p.process(argb(), 2, 2, b);
        assertArrayEquals(new float[] {10, 11, 12, 13, 20, 21, 22, 23, 30, 31, 32, 33}, floats(b), 0f);
    }

    @Test
    public void bgrReversesChannelsAndKeepsStatisticsPerOutputChannel() {
        String bgr = "{\"resize\": 2, \"crop\": [2, 2], \"scale\": 1.0, \"colour_order\": \"BGR\","
                + " \"mean\": [30, 20, 10], \"std\": [1, 2, 4]}";
        TensorSpec in = new TensorSpec(new int[] {1, 2, 2, 3}, TensorSpec.DType.FLOAT32, 0f, 0);
        ImagePreprocessor p = new ImagePreprocessor(PreprocessingSpec.fromJson(bgr), in);
        ByteBuffer b = p.allocateInput();
        p.process(argb(), 2, 2, b);
        float[] v = floats(b);
        // First pixel: B=30, G=20, R=10 -> (30-30)/1, (20-20)/2, (10-10)/4; last pixel +3 each.
        assertArrayEquals(new float[] {0, 0, 0}, new float[] {v[0], v[1], v[2]}, 0f);
        assertArrayEquals(new float[] {3, 1.5f, 0.75f}, new float[] {v[9], v[10], v[11]}, 0f);
    }

    @Test
    public void quantizesWithTheInputTensorParameters() {
        TensorSpec in = new TensorSpec(new int[] {1, 2, 2, 3}, TensorSpec.DType.INT8, 0.5f, -100);
        ImagePreprocessor p = new ImagePreprocessor(PreprocessingSpec.fromJson(RAW), in);
        ByteBuffer b = p.allocateInput();
        p.process(argb(), 2, 2, b);
        assertEquals(12, b.capacity());
        // 10 / 0.5 - 100 = -80; 33 / 0.5 - 100 = -34.
        assertEquals(-80, b.get(0));
        assertEquals(-34, b.get(11));
    }

    @Test
    public void adaptsToTheModelInputSize() {
        TensorSpec in = new TensorSpec(new int[] {1, 4, 6, 3}, TensorSpec.DType.UINT8, 1f, 0);
        ImagePreprocessor p = new ImagePreprocessor(PreprocessingSpec.fromJson(RAW), in);
        assertEquals(4, p.spec().cropHeight);
        assertEquals(6, p.spec().cropWidth);
        ByteBuffer b = p.allocateInput();
        p.process(argb(), 2, 2, b);
        assertEquals(4 * 6 * 3, b.capacity());
    }

    @Test(expected = IllegalArgumentException.class)
    public void rejectsAWrongBuffer() {
        TensorSpec in = new TensorSpec(new int[] {1, 2, 2, 3}, TensorSpec.DType.FLOAT32, 0f, 0);
        ImagePreprocessor p = new ImagePreprocessor(PreprocessingSpec.fromJson(RAW), in);
        p.process(argb(), 2, 2, ByteBuffer.allocate(12));
    }
}
