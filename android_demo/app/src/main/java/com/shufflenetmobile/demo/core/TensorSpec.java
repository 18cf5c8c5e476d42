package com.shufflenetmobile.demo.core;

import java.util.Arrays;
import java.util.Locale;

/**
 * What a model tensor looks like, read from the interpreter at run time (never assumed): shape,
 * element type and, for quantized tensors, {@code real = scale * (q - zeroPoint)}.
 */
public final class TensorSpec {
    public enum DType {
        FLOAT32(4), INT8(1), UINT8(1);

        public final int bytes;

        DType(int bytes) {
            this.bytes = bytes;
        }
    }

    /** Image layouts; which one a model uses is told by where its 3 channels sit in the shape. */
    public enum Layout { NHWC, NCHW }

    public final int[] shape;
    public final DType dtype;
    public final float scale;
    public final int zeroPoint;

    public TensorSpec(int[] shape, DType dtype, float scale, int zeroPoint) {
        if (dtype != DType.FLOAT32 && !(scale > 0)) {
            throw new IllegalArgumentException(dtype + " tensor without a quantization scale");
        }
        this.shape = shape.clone();
        this.dtype = dtype;
        this.scale = scale;
        this.zeroPoint = zeroPoint;
    }

    /** Maps the LiteRT type name ({@code DataType.name()}) to the types this app handles. */
    public static DType dtypeOf(String name) {
        try {
            return DType.valueOf(name);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unsupported tensor type " + name
                    + " (the app handles FLOAT32, INT8 and UINT8)");
        }
    }

    public int numElements() {
        int n = 1;
        for (int d : shape) {
            n *= d;
        }
        return n;
    }

    public int numBytes() {
        return numElements() * dtype.bytes;
    }

    /** For a 1 x H x W x 3 or 1 x 3 x H x W image input. */
    public Layout imageLayout() {
        if (shape.length == 4 && shape[0] == 1 && shape[3] == 3) {
            return Layout.NHWC;
        }
        if (shape.length == 4 && shape[0] == 1 && shape[1] == 3) {
            return Layout.NCHW;
        }
        throw new IllegalArgumentException("not a single RGB image input: shape " + Arrays.toString(shape));
    }

    public int imageHeight() {
        return imageLayout() == Layout.NHWC ? shape[1] : shape[2];
    }

    public int imageWidth() {
        return imageLayout() == Layout.NHWC ? shape[2] : shape[3];
    }

    @Override
    public String toString() {
        String q = dtype == DType.FLOAT32 ? "" : String.format(Locale.ROOT, " (scale %.6g, zero point %d)", scale, zeroPoint);
        return Arrays.toString(shape) + " " + dtype + q;
    }
}
