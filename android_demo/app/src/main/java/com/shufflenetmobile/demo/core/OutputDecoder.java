package com.shufflenetmobile.demo.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** The model's output buffer to float logits (dequantized for int8/uint8 outputs). */
public final class OutputDecoder {
    private OutputDecoder() {}

    public static ByteBuffer allocate(TensorSpec output) {
        return ByteBuffer.allocateDirect(output.numBytes()).order(ByteOrder.nativeOrder());
    }

    /** Reads {@code output.numElements()} values from position 0 of {@code buffer}. */
    public static double[] logits(ByteBuffer buffer, TensorSpec output) {
        if (buffer.capacity() < output.numBytes()) {
            throw new IllegalArgumentException("output buffer too small: " + buffer.capacity() + " < "
                    + output.numBytes());
        }
        ByteBuffer b = buffer.duplicate().order(buffer.order());
        b.rewind();
        double[] out = new double[output.numElements()];
        for (int i = 0; i < out.length; i++) {
            switch (output.dtype) {
                case FLOAT32:
                    out[i] = b.getFloat();
                    break;
                case INT8:
                    out[i] = Quantization.dequantize(b.get(), output.scale, output.zeroPoint);
                    break;
                default: // UINT8
                    out[i] = Quantization.dequantize(b.get() & 0xFF, output.scale, output.zeroPoint);
                    break;
            }
        }
        return out;
    }
}
