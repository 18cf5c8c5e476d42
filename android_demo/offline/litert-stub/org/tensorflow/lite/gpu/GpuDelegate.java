package org.tensorflow.lite.gpu;

import org.tensorflow.lite.Delegate;

/** COMPILE-ONLY STUB of LiteRT's GPU delegate (com.google.ai.edge.litert:litert-gpu). */
public class GpuDelegate implements Delegate {
    /** Deprecated in LiteRT in favour of GpuDelegateFactory.Options, but still what CompatibilityList returns. */
    @Deprecated
    public static class Options extends GpuDelegateFactory.Options {
        public Options() {
            throw new UnsupportedOperationException("compile-only LiteRT stub");
        }
    }

    public GpuDelegate(GpuDelegateFactory.Options options) {
        throw new UnsupportedOperationException("compile-only LiteRT stub");
    }

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
