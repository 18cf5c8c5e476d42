package com.shufflenetmobile.demo.core;

/** Port of {@code resized_size} and {@code resize_and_crop} in model/preprocessing.py. */
public final class ResizeAndCrop {
    private ResizeAndCrop() {}

    /** The short side becomes {@code shortSide}, the long one {@code int(shortSide * long / short + 0.5)}. */
    public static int[] resizedSize(int height, int width, int shortSide) {
        if (height <= width) {
            return new int[] {shortSide, (int) ((double) ((long) shortSide * width) / height + 0.5)};
        }
        return new int[] {(int) ((double) ((long) shortSide * height) / width + 0.5), shortSide};
    }

    /**
     * Packed ARGB pixels of any size to the {@code cropHeight x cropWidth} RGB centre crop: resize the
     * short side, then centre-crop. Only the cropped window of the resize is computed.
     */
    public static RgbImage apply(int[] argb, int width, int height, PreprocessingSpec spec) {
        int h = height;
        int w = width;
        int ch = spec.cropHeight;
        int cw = spec.cropWidth;
        int minSide = Math.min(h, w);
        // Scale so that the crop fits even for a non-square crop (the short side alone may not suffice).
        double need = Math.max((double) ((long) ch * minSide) / h, (double) ((long) cw * minSide) / w);
        int shortSide = Math.max(spec.resize, (int) Math.ceil(need));
        int[] size = resizedSize(h, w, shortSide);
        int top = (size[0] - ch) / 2;
        int left = (size[1] - cw) / 2;
        return AntialiasResize.resizeWindow(argb, w, h, size[0], size[1], top, left, ch, cw);
    }
}
