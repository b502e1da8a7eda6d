// Runs web/inr-decode.mjs in Node.js for tests/test_web.py and benchmarks/bench_web.py.
//   node node_decode.mjs MODULE JOBS.json
// Each job {input, width?, height?, format?, output?, info?, repeats?} prints one JSON line:
// {ok: true, width, height, seconds} (the decoded bytes written to `output`), {ok: true,
// info} for an info job, or {ok: false, code, status, message}.
import { readFile, writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';

const [modulePath, jobsPath] = process.argv.slice(2);
const inr = await import(pathToFileURL(modulePath).href);
const jobs = JSON.parse(await readFile(jobsPath, 'utf8'));

for (const job of jobs) {
  const bytes = await readFile(job.input);
  try {
    if (job.info) {
      console.log(JSON.stringify({ ok: true, info: await inr.info(bytes) }));
      continue;
    }
    const options = { format: job.format ?? 'rgba8' };
    if (job.width != null) Object.assign(options, { width: job.width, height: job.height });
    if (job.maxPixels != null) options.maxPixels = job.maxPixels;
    if (job.maxMemory != null) options.maxMemory = job.maxMemory;
    let result;
    const times = [];
    for (let r = 0; r < (job.repeats ?? 1); r++) {
      const start = performance.now();
      result = await inr.decode(bytes, options);
      times.push((performance.now() - start) / 1000);
    }
    if (job.output) {
      const { buffer, byteOffset, byteLength } = result.data;
      await writeFile(job.output, new Uint8Array(buffer, byteOffset, byteLength));
    }
    console.log(JSON.stringify({ ok: true, width: result.width, height: result.height, seconds: Math.min(...times) }));
  } catch (error) {
    if (!(error instanceof inr.InrError)) throw error;
    console.log(JSON.stringify({ ok: false, code: error.code, status: error.status, message: error.message }));
  }
}
