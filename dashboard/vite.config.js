import { defineConfig } from "vite";

// The built page goes to dist/, which is committed and embedded into the
// server binary (services/samu-http/src/assets.rs): keep it small.
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
  },
});
