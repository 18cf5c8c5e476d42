package org.tensorflow.lite.gpu;

import java.io.Closeable;

/** COMPILE-ONLY STUB of LiteRT's GPU allow-list (com.google.ai.edge.litert:litert-gpu). */
public class CompatibilityList implements Closeable {
    public CompatibilityList() {
        throw new UnsupportedOperationException("compile-only LiteRT stub");
    }

    public boolean isDelegateSupportedOnThisDevice() {
        throw new UnsupportedOperationException("compile-only LiteRT stub");
    }

    @SuppressWarnings("deprecation") // the real method returns the deprecated GpuDelegate.Options
    public GpuDelegate.Options getBestOptionsForThisDevice() {
        throw new UnsupportedOperationException("compile-only LiteRT stub");
    }

    @Override
    public void close() {
        throw new UnsupportedOperationException("compile-only LiteRT stub");
    }
}
