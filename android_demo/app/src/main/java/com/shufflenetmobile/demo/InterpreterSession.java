package com.shufflenetmobile.demo;

import android.os.Build;

import com.shufflenetmobile.demo.core.Backend;
import com.shufflenetmobile.demo.core.Classification;
import com.shufflenetmobile.demo.core.ImagePreprocessor;
import com.shufflenetmobile.demo.core.LatencyBenchmark;
import com.shufflenetmobile.demo.core.OutputDecoder;
import com.shufflenetmobile.demo.core.Prediction;
import com.shufflenetmobile.demo.core.TensorSpec;

import org.tensorflow.lite.Delegate;
import org.tensorflow.lite.Interpreter;
import org.tensorflow.lite.Tensor;
import org.tensorflow.lite.gpu.CompatibilityList;
import org.tensorflow.lite.gpu.GpuDelegate;
import org.tensorflow.lite.nnapi.NnApiDelegate;

import java.io.Closeable;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * One LiteRT interpreter (plus its delegate) for one backend and thread count.
 *
 * <p>Not thread-safe, and the GPU delegate must be used on the thread that created it: the activity
 * creates, uses and closes sessions on its single worker thread only. {@link #close()} frees the
 * native interpreter and the delegate, which the garbage collector would not do in time.
 */
final class InterpreterSession implements Closeable {
    static final class Result {
        final List<Prediction> top;
        final LatencyBenchmark.Timings timings;

        Result(List<Prediction> top, LatencyBenchmark.Timings timings) {
            this.top = top;
            this.timings = timings;
        }
    }

    final Backend backend;
    final int threads;
    final TensorSpec inputSpec;
    final TensorSpec outputSpec;
    private final Interpreter interpreter;
    private final Delegate delegate;
    private final ImagePreprocessor preprocessor;
    private final List<String> labels;
    private final ByteBuffer input;
    private final ByteBuffer output;

    private InterpreterSession(ModelAssets assets, Backend backend, int threads, Interpreter interpreter,
                               Delegate delegate) {
        this.backend = backend;
        this.threads = threads;
        this.interpreter = interpreter;
        this.delegate = delegate;
        this.labels = assets.labels;
        this.inputSpec = specOf(interpreter.getInputTensor(0));
        this.outputSpec = specOf(interpreter.getOutputTensor(0));
        if (outputSpec.numElements() != labels.size()) {
            throw new IllegalStateException("labels.txt has " + labels.size() + " classes but the model outputs "
                    + outputSpec.numElements() + " values: the assets come from different exports");
        }
        this.preprocessor = new ImagePreprocessor(assets.preprocessing, inputSpec);
        this.input = preprocessor.allocateInput();
        this.output = OutputDecoder.allocate(outputSpec);
    }

    /** Everything about the tensors comes from the model itself, so any exported variant works. */
    static TensorSpec specOf(Tensor t) {
        Tensor.QuantizationParams q = t.quantizationParams();
        return new TensorSpec(t.shape(), TensorSpec.dtypeOf(t.dataType().name()), q.getScale(), q.getZeroPoint());
    }

    static InterpreterSession open(ModelAssets assets, Backend backend, int threads)
            throws BackendUnavailableException {
        Interpreter.Options options = new Interpreter.Options().setNumThreads(threads);
        Delegate delegate = null;
        switch (backend) {
            case CPU:
                options.setUseXNNPACK(false);
                break;
            case XNNPACK:
                options.setUseXNNPACK(true);
                break;
            case GPU:
                delegate = createGpuDelegate();
                break;
            case NNAPI:
                delegate = createNnApiDelegate();
                break;
        }
        if (delegate != null) {
            // Only the delegate's unsupported ops fall back to the CPU; keep that path plain.
            options.setUseXNNPACK(false).addDelegate(delegate);
        }
        Interpreter interpreter;
        try {
            interpreter = new Interpreter(assets.model, options);
        } catch (RuntimeException e) {
            closeQuietly(delegate);
            if (delegate == null) {
                throw e;
            }
            // LiteRT reports a delegate that cannot take the graph as IllegalArgumentException.
            throw new BackendUnavailableException(backend.title + " could not be applied to this model", e);
        }
        try {
            return new InterpreterSession(assets, backend, threads, interpreter, delegate);
        } catch (RuntimeException e) {
            interpreter.close();
            closeQuietly(delegate);
            throw e;
        }
    }

    private static Delegate createGpuDelegate() throws BackendUnavailableException {
        CompatibilityList list = null;
        try {
            list = new CompatibilityList();
            if (!list.isDelegateSupportedOnThisDevice()) {
                throw new BackendUnavailableException(
                        "GPU delegate: this device's GPU is not supported by LiteRT (compatibility list)");
            }
            return new GpuDelegate();
        } catch (LinkageError e) {
            // The litert-gpu library or its native part is absent from this build or this ABI.
            throw new BackendUnavailableException("GPU delegate library not available", e);
        } catch (RuntimeException e) {
            throw new BackendUnavailableException("GPU delegate could not be created", e);
        } finally {
            if (list != null) {
                list.close();
            }
        }
    }

    private static Delegate createNnApiDelegate() throws BackendUnavailableException {
        if (Build.VERSION.SDK_INT < 27) {
            throw new BackendUnavailableException("NNAPI delegate needs Android 8.1 (API 27); this device runs API "
                    + Build.VERSION.SDK_INT);
        }
        try {
            return new NnApiDelegate();
        } catch (LinkageError e) {
            throw new BackendUnavailableException("NNAPI delegate library not available", e);
        } catch (RuntimeException e) {
            throw new BackendUnavailableException("NNAPI delegate could not be created", e);
        }
    }

    /** Preprocess + infer {@code runs} times after {@code warmup}, then the top-5 of the last run. */
    Result classify(final int[] argb, final int width, final int height, int warmup, int runs) {
        LatencyBenchmark.Step step = new LatencyBenchmark.Step() {
            @Override
            public void preprocess() {
                // Timed from the ARGB pixels on: unpacking, resize, crop, normalise/quantize.
                preprocessor.process(argb, width, height, input);
            }

            @Override
            public void infer() {
                input.rewind();
                output.rewind();
                interpreter.run(input, output);
            }
        };
        LatencyBenchmark.Timings timings = LatencyBenchmark.run(step, warmup, runs, LatencyBenchmark.SYSTEM);
        double[] probabilities = Classification.softmax(OutputDecoder.logits(output, outputSpec));
        return new Result(Classification.topK(probabilities, labels, 5), timings);
    }

    @Override
    public void close() {
        interpreter.close();
        closeQuietly(delegate);
    }

    private static void closeQuietly(Delegate delegate) {
        if (delegate == null) {
            return;
        }
        try {
            delegate.close();
        } catch (RuntimeException ignored) {
            // Closing is best effort; nothing useful can be done with a failure here.
        }
    }
}
