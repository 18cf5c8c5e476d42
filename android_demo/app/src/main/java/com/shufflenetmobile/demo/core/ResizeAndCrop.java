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

    /** Any-size RGB image to {@code cropHeight x cropWidth}: resize the short side, then centre-crop. */
    public static RgbImage apply(RgbImage img, PreprocessingSpec spec) {
        int h = img.height;
        int w = img.width;
        int ch = spec.cropHeight;
        int cw = spec.cropWidth;
        int minSide = Math.min(h, w);
        // Scale so that the crop fits even for a non-square crop (the short side alone may not suffice).
        double need = Math.max((double) ((long) ch * minSide) / h, (double) ((long) cw * minSide) / w);
        int shortSide = Math.max(spec.resize, (int) Math.ceil(need));
        int[] size = resizedSize(h, w, shortSide);
        RgbImage resized = AntialiasResize.resize(img, size[0], size[1]);
        int top = (size[0] - ch) / 2;
        int left = (size[1] - cw) / 2;
        int[] out = new int[ch * cw * 3];
        for (int y = 0; y < ch; y++) {
            System.arraycopy(resized.data, ((top + y) * resized.width + left) * 3, out, y * cw * 3, cw * 3);
        }
        return new RgbImage(cw, ch, out);
    }
}
