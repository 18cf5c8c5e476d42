package org.tensorflow.lite.gpu;

import org.tensorflow.lite.Delegate;

/** COMPILE-ONLY STUB of LiteRT's GPU delegate (com.google.ai.edge.litert:litert-gpu). */
public class GpuDelegate implements Delegate {
    public GpuDelegate() {
        throw new UnsupportedOperationException("compile-only LiteRT stub");
    }

    @Override
    public long getNativeHandle() {
        throw new UnsupportedOperationException("compile-only LiteRT stub");
    }

    @Override
    public void close() {
        throw new UnsupportedOperationException("compile-only LiteRT stub");
    }
}
