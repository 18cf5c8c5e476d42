package org.tensorflow.lite.gpu;

/** COMPILE-ONLY STUB of LiteRT's GPU delegate factory (com.google.ai.edge.litert:litert-gpu-api): its options type. */
public class GpuDelegateFactory {
    /** Delegate options; filled in by {@link CompatibilityList#getBestOptionsForThisDevice()} in the app. */
    public static class Options {
        public Options() {
            throw new UnsupportedOperationException("compile-only LiteRT stub");
        }
    }
}
