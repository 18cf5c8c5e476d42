package org.tensorflow.lite;

/** COMPILE-ONLY STUB (see {@link Interpreter}): the tensor metadata the app reads. */
public interface Tensor {
    class QuantizationParams {
        public QuantizationParams(float scale, int zeroPoint) {
            throw Stub.fail();
        }

        public float getScale() {
            throw Stub.fail();
        }

        public int getZeroPoint() {
            throw Stub.fail();
        }
    }

    DataType dataType();

    int[] shape();

    QuantizationParams quantizationParams();
}
