/// <reference types="vitest/config" />
/**
 * Build of the Spectrus web client. The API serves `dist/` (see
 * api/src/spectrus_api/webclient.py): hashed files under `assets/` are cached forever,
 * `index.html` is revalidated, and each file gets a `.gz` twin here so the server can
 * send it compressed without compressing on every request.
 */
import { gzipSync } from "node:zlib";
import { readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { defineConfig, type Plugin } from "vite";

function precompress(): Plugin {
  let outDir = "dist";
  return {
    name: "spectrus-precompress",
    apply: "build",
    configResolved(config) {
      outDir = config.build.outDir;
    },
    closeBundle() {
      const walk = (dir: string): string[] =>
        readdirSync(dir).flatMap((name) => {
          const path = join(dir, name);
          return statSync(path).isDirectory() ? walk(path) : [path];
        });
      for (const path of walk(outDir)) {
        if (!/\.(js|css|html|svg|json|webmanifest)$/.test(path)) continue;
        const data = readFileSync(path);
        const packed = gzipSync(data, { level: 9 });
        // Worth it only when it saves something; the server falls back to the plain file.
        if (packed.length < data.length) writeFileSync(path + ".gz", packed);
      }
    },
  };
}

export default defineConfig({
  plugins: [precompress()],
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    target: "es2022",
    // No inline scripts or styles: the page's CSP allows only files from its origin.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    reportCompressedSize: true,
  },
  test: { environment: "node", include: ["src/**/*.test.ts"] },
});
