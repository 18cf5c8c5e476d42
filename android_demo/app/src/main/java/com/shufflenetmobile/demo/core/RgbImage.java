package com.shufflenetmobile.demo.core;

/** An 8-bit RGB image, rows top to bottom, channels interleaved (H x W x 3), values 0..255. */
public final class RgbImage {
    public final int width;
    public final int height;
    /** {@code data[(y * width + x) * 3 + c]}, c = 0 red, 1 green, 2 blue. */
    public final int[] data;

    public RgbImage(int width, int height, int[] data) {
        if (width <= 0 || height <= 0 || data.length != width * height * 3) {
            throw new IllegalArgumentException("RGB data of length " + data.length + " does not fit "
                    + width + "x" + height + "x3");
        }
        this.width = width;
        this.height = height;
        this.data = data;
    }

    public int get(int y, int x, int c) {
        return data[(y * width + x) * 3 + c];
    }
}
