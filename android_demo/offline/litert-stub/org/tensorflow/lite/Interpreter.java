package org.tensorflow.lite;

import java.nio.ByteBuffer;

/**
 * COMPILE-ONLY STUB of the LiteRT class of the same name (com.google.ai.edge.litert:litert). It
 * declares just the members the app calls, so the offline build can type-check the app; it is never
 * dexed into the APK and every method throws. The Gradle build uses the real library instead.
 */
public final class Interpreter implements AutoCloseable {
    public static class Options {
        public Options setNumThreads(int numThreads) {
            throw Stub.fail();
        }

        public Options setUseXNNPACK(boolean useXNNPACK) {
            throw Stub.fail();
        }

        public Options addDelegate(Delegate delegate) {
            throw Stub.fail();
        }
    }

    public Interpreter(ByteBuffer byteBuffer, Options options) {
        throw Stub.fail();
    }

    public Tensor getInputTensor(int inputIndex) {
        throw Stub.fail();
    }

    public Tensor getOutputTensor(int outputIndex) {
        throw Stub.fail();
    }

    public void run(Object input, Object output) {
        throw Stub.fail();
    }

    @Override
    public void close() {
        throw Stub.fail();
    }
}
