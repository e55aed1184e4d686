import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// The built pages go to dist/, which is committed and embedded into the
// server binary (services/samu-http/src/assets.rs): keep it small.
// Two pages: the video wall (index.html, served at /) and the regulation
// console (console.html, served at /console); Leaflet is a shared chunk.
export default defineConfig({
  base: "/",
  build: {
    outDir: "dist",
    assetsDir: "assets",
    emptyOutDir: true,
    sourcemap: false,
    // Leaflet's few images are small: inline them instead of more files.
    assetsInlineLimit: 8192,
    chunkSizeWarningLimit: 400,
    rollupOptions: {
      input: {
        index: fileURLToPath(new URL("./index.html", import.meta.url)),
        console: fileURLToPath(new URL("./console.html", import.meta.url)),
      },
    },
  },
});
