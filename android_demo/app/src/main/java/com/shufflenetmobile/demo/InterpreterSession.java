package com.shufflenetmobile.demo;

import android.os.Build;

import com.shufflenetmobile.demo.core.Backend;
import com.shufflenetmobile.demo.core.Classification;
import com.shufflenetmobile.demo.core.Delegation;
import com.shufflenetmobile.demo.core.Fp16Arithmetic;
import com.shufflenetmobile.demo.core.ImagePreprocessor;
import com.shufflenetmobile.demo.core.LatencyBenchmark;
import com.shufflenetmobile.demo.core.OutputDecoder;
import com.shufflenetmobile.demo.core.RunReport;
import com.shufflenetmobile.demo.core.TensorSpec;

import org.tensorflow.lite.Delegate;
import org.tensorflow.lite.Interpreter;
import org.tensorflow.lite.Tensor;
import org.tensorflow.lite.gpu.CompatibilityList;
import org.tensorflow.lite.gpu.GpuDelegate;
import org.tensorflow.lite.nnapi.NnApiDelegate;

import java.io.ByteArrayOutputStream;
import java.io.Closeable;
import java.io.FileInputStream;
import java.io.IOException;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * One LiteRT interpreter (plus its delegate) for one backend (and, for the CPU backends, one thread
 * count: see {@link Backend#canReuse}).
 *
 * <p>Not thread-safe, and the GPU delegate must be used on the thread that created it: the activity
 * creates, uses and closes sessions on its single worker thread only. {@link #close()} frees the
 * native interpreter and the delegate, which the garbage collector would not do in time.
 */
final class InterpreterSession implements Closeable {
    final Backend backend;
    final int threads;
    final TensorSpec inputSpec;
    final TensorSpec outputSpec;
    /** What the backend did to the graph (execution plan sizes without and with it). */
    final Delegation delegation;
    /** The arithmetic the backend runs this model in: float16 on XNNPACK where the model and the CPU allow it. */
    final String arithmetic;
    /** Wall time of {@code new Interpreter(...)}, delegate preparation included. */
    final double creationMs;
    private boolean used;
    private final Interpreter interpreter;
    private final Delegate delegate;
    private final ImagePreprocessor preprocessor;
    private final List<String> labels;
    private final ByteBuffer input;
    private final ByteBuffer output;

    private InterpreterSession(ModelAssets assets, Backend backend, int threads, Interpreter interpreter,
                               Delegate delegate, double creationMs, int modelOps) {
        this.backend = backend;
        this.threads = threads;
        this.creationMs = creationMs;
        this.delegation = new Delegation(backend, modelOps, executionPlanLength(interpreter));
        this.interpreter = interpreter;
        this.delegate = delegate;
        this.labels = assets.labels;
        this.inputSpec = specOf(interpreter.getInputTensor(0));
        this.outputSpec = specOf(interpreter.getOutputTensor(0));
        if (outputSpec.numElements() != labels.size()) {
            throw new IllegalStateException("labels.txt has " + labels.size() + " classes but the model outputs "
                    + outputSpec.numElements() + " values: the assets come from different exports");
        }
        boolean integerModel = inputSpec.dtype != TensorSpec.DType.FLOAT32;
        this.arithmetic = Fp16Arithmetic.describe(backend, modelMetadata(assets), integerModel,
                Fp16Arithmetic.cpuFeatures(readCpuinfo()));
        this.preprocessor = new ImagePreprocessor(assets.preprocessing, inputSpec);
        this.input = preprocessor.allocateInput();
        this.output = OutputDecoder.allocate(outputSpec);
    }

    /** The model's reduced_precision_support metadata (null when absent or unreadable). */
    private static String modelMetadata(ModelAssets assets) {
        try {
            return Fp16Arithmetic.metadata(assets.model);
        } catch (RuntimeException e) {
            return null;
        }
    }

    /**
     * /proc/cpuinfo, whose Features line lists the hwcaps XNNPACK's CPU detection reads (fphp and asimdhp: FP16
     * arithmetic); empty when it cannot be read.
     */
    private static String readCpuinfo() {
        try (FileInputStream in = new FileInputStream("/proc/cpuinfo")) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] chunk = new byte[4096];
            for (int n; (n = in.read(chunk)) > 0; ) {
                out.write(chunk, 0, n);
            }
            return new String(out.toByteArray(), StandardCharsets.US_ASCII);
        } catch (IOException | SecurityException e) {
            return "";
        }
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
        long t0 = System.nanoTime();
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
        double creationMs = (System.nanoTime() - t0) / 1e6;
        try {
            return new InterpreterSession(assets, backend, threads, interpreter, delegate, creationMs,
                    modelOps(assets));
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
            // The options LiteRT recommends for this GPU (precision loss allowed or not, backend, ...).
            return new GpuDelegate(list.getBestOptionsForThisDevice());
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

    /**
     * Nodes in the execution plan of a model without any delegate (XNNPACK off): its op count. Needs
     * a second, plain interpreter for a moment; -1 when the count is not exposed.
     */
    private static int modelOps(ModelAssets assets) {
        Interpreter plain = null;
        try {
            plain = new Interpreter(assets.model, new Interpreter.Options().setNumThreads(1).setUseXNNPACK(false));
            return executionPlanLength(plain);
        } catch (RuntimeException e) {
            return Delegation.UNKNOWN;
        } finally {
            if (plain != null) {
                plain.close();
            }
        }
    }

    /**
     * The interpreter's execution plan length (nodes after delegation). LiteRT's public Java API does
     * not expose it; its package-private {@code getExecutionPlanLength()} (in the real library, not in
     * the offline stub) is read by reflection, and -1 is returned when it is absent or refused.
     */
    static int executionPlanLength(Interpreter interpreter) {
        for (Class<?> c = interpreter.getClass(); c != null; c = c.getSuperclass()) {
            try {
                Method m = c.getDeclaredMethod("getExecutionPlanLength");
                m.setAccessible(true);
                return ((Number) m.invoke(interpreter)).intValue();
            } catch (NoSuchMethodException e) {
                // Try the superclass (Interpreter extends InterpreterImpl in LiteRT 1.x).
            } catch (ReflectiveOperationException | RuntimeException e) {
                return Delegation.UNKNOWN;
            }
        }
        return Delegation.UNKNOWN;
    }

    /**
     * One Classify tap: preprocess the pixels ONCE into the input buffer (timed), then the first
     * inference, {@code warmup} untimed and {@code runs} timed ones on that same input, then the top-5.
     */
    RunReport classify(LoadedImage image, int warmup, int runs) {
        final int[] argb = image.argb;
        final int width = image.width;
        final int height = image.height;
        double preprocessMs = LatencyBenchmark.timeOnce(new Runnable() {
            @Override
            public void run() {
                preprocessor.process(argb, width, height, input);
            }
        }, LatencyBenchmark.SYSTEM);
        boolean createdNow = !used;
        used = true;
        LatencyBenchmark.Timings timings = LatencyBenchmark.run(new Runnable() {
            @Override
            public void run() {
                input.rewind();
                output.rewind();
                interpreter.run(input, output);
            }
        }, warmup, runs, LatencyBenchmark.SYSTEM);
        double[] probabilities = Classification.softmax(OutputDecoder.logits(output, outputSpec));
        return new RunReport(image.info, inputSpec + " " + inputSpec.imageLayout(), outputSpec.toString(),
                Classification.topK(probabilities, labels, 5), backend, threads, delegation, arithmetic, creationMs,
                createdNow, preprocessMs, timings);
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
