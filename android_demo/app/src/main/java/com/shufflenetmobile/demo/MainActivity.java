package com.shufflenetmobile.demo;

import android.app.Activity;
import android.content.ActivityNotFoundException;
import android.content.Intent;
import android.net.Uri;
import android.os.Build;
import android.os.Bundle;
import android.view.View;
import android.widget.AdapterView;
import android.widget.ArrayAdapter;
import android.widget.Button;
import android.widget.ImageView;
import android.widget.Spinner;
import android.widget.TextView;

import com.shufflenetmobile.demo.core.Backend;
import com.shufflenetmobile.demo.core.ReportFormatter;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * One screen: choose an image (bundled sample or a photo from the system picker), a backend and a
 * thread count, and see the top-5 classes with the median latency.
 *
 * <p>Threading: everything slow (asset loading, decoding, interpreter creation, inference) runs on
 * one worker thread, which alone owns the interpreter session; the UI thread only updates views.
 */
public final class MainActivity extends Activity {
    private static final int REQUEST_PICK_IMAGE = 1;
    private static final int WARMUP_RUNS = 3;
    private static final int TIMED_RUNS = 20;
    private static final int[] THREAD_CHOICES = {1, 2, 4};
    /** MediaStore.ACTION_PICK_IMAGES (API 33), spelled out because the offline build compiles against API 23. */
    private static final String ACTION_PICK_IMAGES = "android.provider.action.PICK_IMAGES";

    private final ExecutorService worker = Executors.newSingleThreadExecutor();

    // Written on the worker thread; the session is only ever touched there.
    private volatile ModelAssets assets;
    private InterpreterSession session;

    // UI thread only.
    private LoadedImage current;
    private boolean busy;
    private Spinner sampleSpinner;
    private Spinner backendSpinner;
    private Spinner threadsSpinner;
    private Button pickButton;
    private Button classifyButton;
    private ImageView preview;
    private TextView modelInfo;
    private TextView status;
    private TextView result;

    @Override
    protected void onCreate(Bundle savedInstanceState) {
        super.onCreate(savedInstanceState);
        setContentView(R.layout.activity_main);
        sampleSpinner = (Spinner) findViewById(R.id.sample_spinner);
        backendSpinner = (Spinner) findViewById(R.id.backend_spinner);
        threadsSpinner = (Spinner) findViewById(R.id.threads_spinner);
        pickButton = (Button) findViewById(R.id.pick_button);
        classifyButton = (Button) findViewById(R.id.classify_button);
        preview = (ImageView) findViewById(R.id.preview);
        modelInfo = (TextView) findViewById(R.id.model_info);
        status = (TextView) findViewById(R.id.status);
        result = (TextView) findViewById(R.id.result);

        String[] backends = new String[Backend.values().length];
        for (Backend b : Backend.values()) {
            backends[b.ordinal()] = b.title;
        }
        backendSpinner.setAdapter(adapter(backends));
        backendSpinner.setSelection(Backend.XNNPACK.ordinal());
        String[] threads = new String[THREAD_CHOICES.length];
        for (int i = 0; i < threads.length; i++) {
            threads[i] = THREAD_CHOICES[i] + (THREAD_CHOICES[i] == 1 ? " thread" : " threads");
        }
        threadsSpinner.setAdapter(adapter(threads));
        threadsSpinner.setSelection(1);

        pickButton.setOnClickListener(new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                pickPhoto();
            }
        });
        classifyButton.setOnClickListener(new View.OnClickListener() {
            @Override
            public void onClick(View v) {
                classify();
            }
        });
        loadAssets();
    }

    @Override
    protected void onDestroy() {
        // Free the interpreter and its delegate on the thread that created them, then stop the worker.
        worker.execute(new Runnable() {
            @Override
            public void run() {
                closeSession();
            }
        });
        worker.shutdown();
        super.onDestroy();
    }

    private ArrayAdapter<String> adapter(String[] items) {
        ArrayAdapter<String> a = new ArrayAdapter<String>(this, android.R.layout.simple_spinner_item, items);
        a.setDropDownViewResource(android.R.layout.simple_spinner_dropdown_item);
        return a;
    }

    private void loadAssets() {
        setBusy(true, getString(R.string.status_loading_model));
        worker.execute(new Runnable() {
            @Override
            public void run() {
                try {
                    final ModelAssets loaded = ModelAssets.load(getAssets());
                    assets = loaded;
                    onUi(new Runnable() {
                        @Override
                        public void run() {
                            onAssetsLoaded(loaded);
                        }
                    });
                } catch (Exception e) {
                    fail("Cannot load the model assets", e);
                }
            }
        });
    }

    private void onAssetsLoaded(ModelAssets loaded) {
        modelInfo.setText(getString(R.string.model_info, loaded.preprocessing.arch, loaded.labels.size(),
                loaded.preprocessing.resize, loaded.preprocessing.cropHeight, loaded.preprocessing.cropWidth,
                loaded.preprocessing.colourOrder));
        setBusy(false, loaded.samples.length == 0 ? getString(R.string.status_no_samples) : "");
        sampleSpinner.setAdapter(adapter(loaded.samples));
        // Selecting a sample (including the first one, selected at layout) loads and classifies it.
        sampleSpinner.setOnItemSelectedListener(new AdapterView.OnItemSelectedListener() {
            @Override
            public void onItemSelected(AdapterView<?> parent, View view, int position, long id) {
                loadSample(assets.samples[position]);
            }

            @Override
            public void onNothingSelected(AdapterView<?> parent) {
            }
        });
    }

    private void loadSample(final String name) {
        setBusy(true, getString(R.string.status_decoding, name));
        worker.execute(new Runnable() {
            @Override
            public void run() {
                try {
                    showAndClassify(new LoadedImage(name,
                            BitmapLoader.fromAsset(getAssets(), ModelAssets.SAMPLES_DIR + "/" + name)));
                } catch (Exception | OutOfMemoryError e) {
                    fail("Cannot decode " + name, e);
                }
            }
        });
    }

    /** The system photo picker (Android 13+) or document picker: no storage permission needed. */
    private void pickPhoto() {
        Intent intent;
        if (Build.VERSION.SDK_INT >= 33) {
            intent = new Intent(ACTION_PICK_IMAGES);
        } else {
            intent = new Intent(Intent.ACTION_GET_CONTENT);
            intent.addCategory(Intent.CATEGORY_OPENABLE);
        }
        intent.setType("image/*");
        try {
            startActivityForResult(intent, REQUEST_PICK_IMAGE);
        } catch (ActivityNotFoundException e) {
            status.setText(R.string.status_no_picker);
        }
    }

    @Override
    protected void onActivityResult(int requestCode, int resultCode, Intent data) {
        super.onActivityResult(requestCode, resultCode, data);
        if (requestCode != REQUEST_PICK_IMAGE || resultCode != RESULT_OK || data == null || data.getData() == null) {
            return;
        }
        final Uri uri = data.getData();
        setBusy(true, getString(R.string.status_decoding, uri.getLastPathSegment()));
        worker.execute(new Runnable() {
            @Override
            public void run() {
                try {
                    showAndClassify(new LoadedImage(uri.getLastPathSegment(),
                            BitmapLoader.fromUri(getContentResolver(), uri)));
                } catch (Exception | OutOfMemoryError e) {
                    fail("Cannot decode the picked image", e);
                }
            }
        });
    }

    /** Called on the worker thread with a freshly decoded image. */
    private void showAndClassify(final LoadedImage image) {
        onUi(new Runnable() {
            @Override
            public void run() {
                current = image;
                preview.setImageBitmap(image.bitmap);
                setBusy(false, "");
                classify();
            }
        });
    }

    private void classify() {
        if (busy || current == null || assets == null) {
            return;
        }
        final Backend backend = Backend.values()[backendSpinner.getSelectedItemPosition()];
        final int threads = THREAD_CHOICES[threadsSpinner.getSelectedItemPosition()];
        final LoadedImage image = current;
        setBusy(true, getString(R.string.status_running, TIMED_RUNS, backend.title));
        worker.execute(new Runnable() {
            @Override
            public void run() {
                String text;
                try {
                    InterpreterSession s = sessionFor(backend, threads);
                    InterpreterSession.Result r = s.classify(image.argb, image.width, image.height, WARMUP_RUNS,
                            TIMED_RUNS);
                    text = "Image: " + image.name + " (" + image.width + "x" + image.height + ")\n"
                            + "Input: " + s.inputSpec + " " + s.inputSpec.imageLayout() + "\n"
                            + "Output: " + s.outputSpec + "\n\n"
                            + ReportFormatter.format(r.top, r.timings, backend, threads);
                } catch (BackendUnavailableException e) {
                    text = getString(R.string.backend_unavailable, backend.title, e.getMessage());
                } catch (LinkageError e) {
                    // E.g. the structure-only offline APK, which carries no LiteRT runtime.
                    text = getString(R.string.runtime_missing, String.valueOf(e));
                } catch (RuntimeException e) {
                    text = "Classification failed: " + e;
                }
                final String shown = text;
                onUi(new Runnable() {
                    @Override
                    public void run() {
                        result.setText(shown);
                        setBusy(false, "");
                    }
                });
            }
        });
    }

    /** Worker thread: reuses the session while backend and thread count stay the same. */
    private InterpreterSession sessionFor(Backend backend, int threads) throws BackendUnavailableException {
        if (session != null && session.backend == backend && session.threads == threads) {
            return session;
        }
        closeSession();
        session = InterpreterSession.open(assets, backend, threads);
        return session;
    }

    private void closeSession() {
        if (session != null) {
            session.close();
            session = null;
        }
    }

    private void fail(final String what, final Throwable e) {
        onUi(new Runnable() {
            @Override
            public void run() {
                result.setText(what + ": " + e);
                setBusy(false, "");
            }
        });
    }

    private void setBusy(boolean isBusy, String message) {
        busy = isBusy;
        classifyButton.setEnabled(!isBusy);
        pickButton.setEnabled(!isBusy);
        status.setText(message);
    }

    /** Posts to the UI thread unless the activity is already gone. */
    private void onUi(final Runnable r) {
        runOnUiThread(new Runnable() {
            @Override
            public void run() {
                if (!isDestroyed()) {
                    r.run();
                }
            }
        });
    }
}
