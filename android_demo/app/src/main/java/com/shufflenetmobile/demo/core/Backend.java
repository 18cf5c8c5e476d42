package com.shufflenetmobile.demo.core;

/** Where the interpreter runs the model. */
public enum Backend {
    /** LiteRT's built-in CPU kernels, XNNPACK switched off. */
    CPU("CPU (built-in kernels)"),
    /** The XNNPACK CPU delegate (LiteRT's default CPU path). */
    XNNPACK("CPU + XNNPACK"),
    /** The GPU delegate (OpenCL or OpenGL ES); not every device or model supports it. */
    GPU("GPU delegate"),
    /** Android's Neural Networks API (API 27+, deprecated from Android 15). */
    NNAPI("NNAPI delegate");

    public final String title;

    Backend(String title) {
        this.title = title;
    }

    /**
     * Whether the thread count shapes this backend's session. The GPU and NNAPI delegates run the graph
     * themselves (the threads serve only ops left on the CPU), so changing the thread count keeps their
     * session instead of recompiling the delegate.
     */
    public boolean usesThreadCount() {
        return this == CPU || this == XNNPACK;
    }

    /** Whether a session made for {@code current} with {@code currentThreads} serves this backend and thread count. */
    public boolean canReuse(Backend current, int currentThreads, int threads) {
        return current == this && (!usesThreadCount() || currentThreads == threads);
    }
}
