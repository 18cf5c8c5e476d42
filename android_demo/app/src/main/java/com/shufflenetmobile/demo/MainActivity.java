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
import com.shufflenetmobile.demo.core.DecodeSize;
import com.shufflenetmobile.demo.core.ReportFormatter;
import com.shufflenetmobile.demo.core.RunReport;

import java.util.Arrays;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * One screen: choose an image (bundled sample or a photo from the system picker), a backend and a
 * thread count, and see the top-5 classes, what the backend really did, and the latencies.
 *
 * <p>Threading: everything slow (asset loading, decoding, interpreter creation, inference) runs on
 * one worker thread, which alone owns the interpreter session; the UI thread only updates views.
 * Every control stays disabled while any job is queued or running, so taps cannot pile up work.
 */
public final class MainActivity extends Activity {
    private static final int REQUEST_PICK_IMAGE = 1;
    private static final int WARMUP_RUNS = 3;
    private static final int TIMED_RUNS = 20;
    private static final int[] THREAD_CHOICES = {1, 2, 4};
    /** MediaStore.ACTION_PICK_IMAGES (API 33), spelled out because the offline build compiles against API 23. */
    private static final String ACTION_PICK_IMAGES = "android.provider.action.PICK_IMAGES";
    private static final String STATE_PICKED_URI = "picked_uri";
    private static final String STATE_SAMPLE = "sample";

    private final ExecutorService worker = Executors.newSingleThreadExecutor();

    // Written on the worker thread; the session is only ever touched there.
    private volatile ModelAssets assets;
    private InterpreterSession session;

    // UI thread only.
    private LoadedImage current;
    /** Jobs submitted to the worker and not finished yet; controls are enabled only at 0. */
    private int pending;
    /** The photo picked from the gallery (kept across activity recreation), or null for a sample. */
    private Uri pickedUri;
    private String sampleName;
    /** The spinner reports its initial selection at layout; skip it when a picked photo is restored. */
    private boolean skipSampleSelection;
    /** A decode finished: classify as soon as no other job is queued. */
    private boolean classifyAfterDecode;
    private Spinner sampleSpinner;
    private Spinner backendSpinner;
    private Spinner threadsSpinner;
    private Button pickButton;
    private Button classifyButton;
    private ImageView preview;
    private TextView modelInfo;
    private TextView status;
    private TextView result;

    /** Work for the worker thread; returns what the UI thread does afterwards (may be null). */
    private interface Job {
        Runnable run() throws Exception;
    }

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

        if (savedInstanceState != null) {
            String uri = savedInstanceState.getString(STATE_PICKED_URI);
            pickedUri = uri != null ? Uri.parse(uri) : null;
            sampleName = savedInstanceState.getString(STATE_SAMPLE);
        }

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
    protected void onSaveInstanceState(Bundle outState) {
        super.onSaveInstanceState(outState);
        // Rotation or a configuration change recreates the activity: keep the photo being shown.
        if (pickedUri != null) {
            outState.putString(STATE_PICKED_URI, pickedUri.toString());
        }
        if (sampleName != null) {
            outState.putString(STATE_SAMPLE, sampleName);
        }
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

    /** Queues {@code job} on the worker; controls stay disabled until every queued job has finished. */
    private void submit(String message, final String failure, final Job job) {
        pending++;
        updateControls();
        status.setText(message);
        worker.execute(new Runnable() {
            @Override
            public void run() {
                Runnable after;
                try {
                    after = job.run();
                } catch (OutOfMemoryError e) {
                    after = show(failure + ": " + getString(R.string.out_of_memory));
                } catch (Exception e) {
                    after = show(failure + ": " + e);
                }
                final Runnable ui = after;
                onUi(new Runnable() {
                    @Override
                    public void run() {
                        pending--;
                        status.setText("");
                        if (ui != null) {
                            ui.run();
                        }
                        updateControls(); // may start the classification a decode asked for
                    }
                });
            }
        });
    }

    private Runnable show(final String text) {
        return new Runnable() {
            @Override
            public void run() {
                result.setText(text);
            }
        };
    }

    private void loadAssets() {
        submit(getString(R.string.status_loading_model), "Cannot load the model assets", new Job() {
            @Override
            public Runnable run() throws Exception {
                final ModelAssets loaded = ModelAssets.load(getAssets());
                assets = loaded;
                return new Runnable() {
                    @Override
                    public void run() {
                        onAssetsLoaded(loaded);
                    }
                };
            }
        });
    }

    private void onAssetsLoaded(ModelAssets loaded) {
        modelInfo.setText(getString(R.string.model_info, loaded.preprocessing.arch, loaded.labels.size(),
                loaded.preprocessing.resize, loaded.preprocessing.cropHeight, loaded.preprocessing.cropWidth,
                loaded.preprocessing.colourOrder));
        if (loaded.samples.length == 0 && pickedUri == null) {
            status.setText(R.string.status_no_samples);
        }
        sampleSpinner.setAdapter(adapter(loaded.samples));
        int index = sampleName != null ? Arrays.asList(loaded.samples).indexOf(sampleName) : -1;
        if (index >= 0) {
            sampleSpinner.setSelection(index, false);
        }
        if (pickedUri != null) {
            // Restored after recreation: show the picked photo again, not the sample.
            skipSampleSelection = true;
            loadPicked(pickedUri);
        }
        // Selecting a sample (including the first one, selected at layout) loads and classifies it.
        sampleSpinner.setOnItemSelectedListener(new AdapterView.OnItemSelectedListener() {
            @Override
            public void onItemSelected(AdapterView<?> parent, View view, int position, long id) {
                if (skipSampleSelection) {
                    skipSampleSelection = false;
                    return;
                }
                pickedUri = null;
                sampleName = assets.samples[position];
                loadSample(sampleName);
            }

            @Override
            public void onNothingSelected(AdapterView<?> parent) {
            }
        });
    }

    /** The decoded short side this model needs (see DecodeSize; Python's decode_sample_size is the same rule). */
    private int minShortSide() {
        return DecodeSize.minShortSide(assets.preprocessing);
    }

    private void loadSample(final String name) {
        submit(getString(R.string.status_decoding, name), "Cannot decode " + name, new Job() {
            @Override
            public Runnable run() throws Exception {
                return shown(BitmapLoader.load(
                        BitmapLoader.asset(getAssets(), ModelAssets.SAMPLES_DIR + "/" + name), minShortSide()));
            }
        });
    }

    private void loadPicked(final Uri uri) {
        submit(getString(R.string.status_decoding, uri.getLastPathSegment()), "Cannot decode the picked image",
                new Job() {
                    @Override
                    public Runnable run() throws Exception {
                        return shown(BitmapLoader.load(BitmapLoader.uri(getContentResolver(), uri), minShortSide()));
                    }
                });
    }

    /** UI step after a decode: show the preview bitmap (never the model's pixels), then classify. */
    private Runnable shown(final LoadedImage image) {
        return new Runnable() {
            @Override
            public void run() {
                current = image;
                preview.setImageBitmap(image.preview);
                classifyAfterDecode = true;
            }
        };
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
        pickedUri = data.getData();
        if (assets != null) {
            loadPicked(pickedUri);
        }
        // Otherwise onAssetsLoaded loads it.
    }

    private void classify() {
        if (pending > 0 || current == null || assets == null) {
            return;
        }
        final Backend backend = Backend.values()[backendSpinner.getSelectedItemPosition()];
        final int threads = THREAD_CHOICES[threadsSpinner.getSelectedItemPosition()];
        final LoadedImage image = current;
        submit(getString(R.string.status_running, TIMED_RUNS, backend.title), "Classification failed", new Job() {
            @Override
            public Runnable run() {
                String text;
                try {
                    RunReport report = sessionFor(backend, threads).classify(image, WARMUP_RUNS, TIMED_RUNS);
                    text = ReportFormatter.format(report);
                } catch (BackendUnavailableException e) {
                    text = getString(R.string.backend_unavailable, backend.title, e.getMessage());
                } catch (LinkageError e) {
                    // E.g. the structure-only offline APK, which carries no LiteRT runtime.
                    text = getString(R.string.runtime_missing, String.valueOf(e));
                } catch (RuntimeException e) {
                    text = "Classification failed: " + e;
                }
                return show(text);
            }
        });
    }

    /**
     * Worker thread: reuses the session while the backend stays the same and, for the CPU backends,
     * the thread count too (a GPU or NNAPI session is not rebuilt for a thread-count change).
     */
    private InterpreterSession sessionFor(Backend backend, int threads) throws BackendUnavailableException {
        if (session != null && backend.canReuse(session.backend, session.threads, threads)) {
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

    private void updateControls() {
        boolean idle = pending == 0;
        classifyButton.setEnabled(idle && current != null);
        pickButton.setEnabled(idle);
        sampleSpinner.setEnabled(idle);
        backendSpinner.setEnabled(idle);
        threadsSpinner.setEnabled(idle);
        if (idle && classifyAfterDecode) {
            classifyAfterDecode = false;
            classify();
        }
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
