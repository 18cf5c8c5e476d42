package com.shufflenetmobile.demo.core;

import java.util.List;

/** Everything one Classify tap found out, for {@link ReportFormatter}. */
public final class RunReport {
    /** The photo: name, size as stored, decoder sample size, EXIF orientation, size as classified. */
    public static final class Image {
        public final String name;
        public final int storedWidth;
        public final int storedHeight;
        public final int sampleSize;
        public final int orientation;
        public final int width;
        public final int height;

        public Image(String name, int storedWidth, int storedHeight, int sampleSize, int orientation, int width,
                     int height) {
            this.name = name;
            this.storedWidth = storedWidth;
            this.storedHeight = storedHeight;
            this.sampleSize = sampleSize;
            this.orientation = orientation;
            this.width = width;
            this.height = height;
        }
    }

    public final Image image;
    public final String input;
    public final String output;
    public final List<Prediction> top;
    public final Backend backend;
    public final int threads;
    public final Delegation delegation;
    /** The arithmetic the backend runs the model in, and why ({@link Fp16Arithmetic#describe}). */
    public final String arithmetic;
    /** Interpreter (and delegate) creation, milliseconds, when this tap created it. */
    public final double creationMs;
    /** False when the tap reused the session created earlier (creationMs is then that earlier time). */
    public final boolean createdNow;
    public final double preprocessMs;
    public final LatencyBenchmark.Timings timings;

    public RunReport(Image image, String input, String output, List<Prediction> top, Backend backend, int threads,
                     Delegation delegation, String arithmetic, double creationMs, boolean createdNow,
                     double preprocessMs, LatencyBenchmark.Timings timings) {
        this.image = image;
        this.input = input;
        this.output = output;
        this.top = top;
        this.backend = backend;
        this.threads = threads;
        this.delegation = delegation;
        this.arithmetic = arithmetic;
        this.creationMs = creationMs;
        this.createdNow = createdNow;
        this.preprocessMs = preprocessMs;
        this.timings = timings;
    }
}
