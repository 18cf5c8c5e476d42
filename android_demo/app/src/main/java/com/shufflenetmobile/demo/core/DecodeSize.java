package com.shufflenetmobile.demo.core;

/**
 * How much smaller a photo is decoded for the model: the decoder's power-of-two sample size
 * ({@code BitmapFactory.Options.inSampleSize}). Python's {@code decode_sample_size} in
 * model/preprocessing.py is the same rule; the golden test runs both on the same sizes.
 *
 * <p>The rule keeps the short side at least {@link #OVERSAMPLING} times the side the model resizes
 * to (as Pillow's {@code thumbnail} keeps {@code reducing_gap=2} before its antialiased resize), so the
 * final filter still averages several decoded pixels per output pixel; and it caps the decoded image
 * at {@link #MAX_PIXELS} whatever its shape (panoramas), which bounds the {@code int[]} of its pixels.
 */
public final class DecodeSize {
    /** Short side kept at this multiple (or more) of the model's resize target. */
    public static final int OVERSAMPLING = 2;
    /** No decoded image above this many pixels: 8 MB as packed ARGB ints. */
    public static final long MAX_PIXELS = 2_000_000L;

    private DecodeSize() {}

    /** The shortest side worth decoding for this preprocessing (model input size already applied). */
    public static int minShortSide(PreprocessingSpec spec) {
        return OVERSAMPLING * Math.max(spec.resize, Math.max(spec.cropHeight, spec.cropWidth));
    }

    /**
     * The largest power of two {@code s} whose decoded short side {@code min(w, h) / s} stays at or above
     * {@code minShortSide}; then doubled while the decoded image has more than {@link #MAX_PIXELS}.
     * Never below 1: a small photo is decoded as it is.
     */
    public static int sampleSize(int width, int height, int minShortSide) {
        if (width < 1 || height < 1 || minShortSide < 1) {
            throw new IllegalArgumentException("need positive sizes, got " + width + "x" + height + " and "
                    + minShortSide);
        }
        int shortSide = Math.min(width, height);
        int s = 1;
        while (shortSide / (2 * s) >= minShortSide) {
            s *= 2;
        }
        while ((long) (width / s) * (height / s) > MAX_PIXELS) {
            s *= 2;
        }
        return s;
    }

    /**
     * Size of a non-JPEG image decoded with sample size {@code s} (Android's sampled decoder keeps the
     * pixel at {@code s / 2} of every {@code s x s} block: {@code max(1, side / s)}). JPEG decodes
     * are scaled in the DCT domain and round up instead; the app uses the decoded bitmap's real size.
     */
    public static int sampledSide(int side, int s) {
        return Math.max(1, side / s);
    }
}
