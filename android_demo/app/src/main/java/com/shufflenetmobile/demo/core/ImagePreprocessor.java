package com.shufflenetmobile.demo.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Photo pixels to the model's input buffer: resize and centre-crop, channel order, normalisation,
 * then layout (NHWC or NCHW) and element type (float32, or int8/uint8 quantized with the input
 * tensor's own scale and zero point), all taken from the description and the model.
 */
public final class ImagePreprocessor {
    private final PreprocessingSpec spec;
    private final TensorSpec input;
    private final float scale;
    private final float[] mean = new float[3];
    private final float[] std = new float[3];
    /** Source RGB channel for each output channel (reversed for BGR models). */
    private final int[] sourceChannel;

    public ImagePreprocessor(PreprocessingSpec description, TensorSpec input) {
        this.input = input;
        // The model's input size wins; the description is adapted as Preprocessing.with_input_size does.
        this.spec = description.forInput(input.imageHeight(), input.imageWidth());
        // The Python reference casts the float64 description values to float32 before computing.
        this.scale = (float) spec.scale;
        for (int c = 0; c < 3; c++) {
            mean[c] = (float) spec.mean[c];
            std[c] = (float) spec.std[c];
        }
        this.sourceChannel = "BGR".equals(spec.colourOrder) ? new int[] {2, 1, 0} : new int[] {0, 1, 2};
    }

    public PreprocessingSpec spec() {
        return spec;
    }

    public TensorSpec input() {
        return input;
    }

    /** A direct buffer in native byte order, the form LiteRT copies without conversion. */
    public ByteBuffer allocateInput() {
        return ByteBuffer.allocateDirect(input.numBytes()).order(ByteOrder.nativeOrder());
    }

    /**
     * ARGB pixels (Bitmap.getPixels) to the filled input buffer. Besides {@code argb} itself, the
     * working memory is sized to the output: the rows of the crop at the source width, then the crop.
     */
    public void process(int[] argb, int width, int height, ByteBuffer out) {
        encode(crop(argb, width, height), out);
    }

    /** The resized centre crop (input height x width x RGB) of packed ARGB pixels. */
    public RgbImage crop(int[] argb, int width, int height) {
        return ResizeAndCrop.apply(argb, width, height, spec);
    }

    /**
     * The shortest side a photo should keep when it is decoded at reduced size for this model: see
     * {@link DecodeSize#minShortSide}.
     */
    public int minDecodedShortSide() {
        return DecodeSize.minShortSide(spec);
    }

    /** Writes a crop of exactly the input size into {@code out}, from position 0. */
    public void encode(RgbImage crop, ByteBuffer out) {
        int h = input.imageHeight();
        int w = input.imageWidth();
        if (crop.height != h || crop.width != w) {
            throw new IllegalArgumentException("crop is " + crop.height + "x" + crop.width + ", input needs "
                    + h + "x" + w);
        }
        if (out.capacity() != input.numBytes()) {
            throw new IllegalArgumentException("buffer holds " + out.capacity() + " bytes, input needs "
                    + input.numBytes());
        }
        out.rewind();
        if (input.imageLayout() == TensorSpec.Layout.NHWC) {
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    for (int c = 0; c < 3; c++) {
                        put(out, value(crop, y, x, c));
                    }
                }
            }
        } else {
            for (int c = 0; c < 3; c++) {
                for (int y = 0; y < h; y++) {
                    for (int x = 0; x < w; x++) {
                        put(out, value(crop, y, x, c));
                    }
                }
            }
        }
        out.rewind();
    }

    private float value(RgbImage crop, int y, int x, int c) {
        return Quantization.normalize(crop.get(y, x, sourceChannel[c]), scale, mean[c], std[c]);
    }

    private void put(ByteBuffer out, float v) {
        if (input.dtype == TensorSpec.DType.FLOAT32) {
            out.putFloat(v);
        } else {
            out.put((byte) Quantization.quantize(v, input.scale, input.zeroPoint, input.dtype));
        }
    }
}
