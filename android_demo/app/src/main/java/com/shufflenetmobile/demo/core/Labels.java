package com.shufflenetmobile.demo.core;

import java.util.ArrayList;
import java.util.List;

/** labels.txt: one class name per line, in output index order. */
public final class Labels {
    private Labels() {}

    public static List<String> parse(String text) {
        String[] lines = text.split("\n", -1);
        List<String> out = new ArrayList<String>(lines.length);
        for (String line : lines) {
            // Files written on Windows end lines with \r\n; the \r is not part of the name.
            out.add(line.endsWith("\r") ? line.substring(0, line.length() - 1) : line);
        }
        // The final newline leaves one empty entry that is not a class.
        while (!out.isEmpty() && out.get(out.size() - 1).isEmpty()) {
            out.remove(out.size() - 1);
        }
        return out;
    }
}
