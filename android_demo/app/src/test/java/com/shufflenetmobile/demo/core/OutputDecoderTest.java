package com.shufflenetmobile.demo.core;

import static org.junit.Assert.assertArrayEquals;

import java.nio.ByteBuffer;
import org.junit.Test;

public class OutputDecoderTest {
    @Test
    public void dequantizesInt8() {
        TensorSpec out = new TensorSpec(new int[] {1, 3}, TensorSpec.DType.INT8, 0.5f, -2);
        ByteBuffer b = OutputDecoder.allocate(out);
        b.put((byte) -128).put((byte) -2).put((byte) 127);
        assertArrayEquals(new double[] {-63.0, 0.0, 64.5}, OutputDecoder.logits(b, out), 0.0);
    }

    @Test
    public void dequantizesUint8() {
        TensorSpec out = new TensorSpec(new int[] {1, 2}, TensorSpec.DType.UINT8, 0.25f, 128);
        ByteBuffer b = OutputDecoder.allocate(out);
        b.put((byte) 255).put((byte) 0);
        assertArrayEquals(new double[] {31.75, -32.0}, OutputDecoder.logits(b, out), 0.0);
    }

    @Test
    public void readsFloat32InBufferOrderWhateverThePosition() {
        TensorSpec out = new TensorSpec(new int[] {1, 2}, TensorSpec.DType.FLOAT32, 0f, 0);
        ByteBuffer b = OutputDecoder.allocate(out);
        b.putFloat(1.5f).putFloat(-2.25f); // position now at the end, as after Interpreter.run
        assertArrayEquals(new double[] {1.5, -2.25}, OutputDecoder.logits(b, out), 0.0);
    }
}
