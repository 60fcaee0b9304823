/**
 * Renders a drop message to a recording in audio/, with its transcript beside it:
 *
 *   npm run audio:render -- --practice demo --template recall [--param office_hours="…"] [--out recall-demo.wav]
 *
 * The message is the template rendered for the practice exactly as a campaign renders it (name,
 * callback line, PHI check, 60-second limit). The transcript (`<out>.txt`) is what lets a campaign
 * use the recording (`audioFile`): the service checks it equals the campaign's message, at
 * creation and again before every drop. Speech comes from a local text-to-speech command:
 * `espeak-ng` by default, or AUDIO_TTS_COMMAND with `{out}` for the output file (the text arrives
 * on standard input), e.g. `pico2wave -w {out} "$(cat)"` wrapped in `sh -c`.
 */
import { spawn } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AUDIO_FILE, renderFor, transcriptPath } from '../src/drops/campaigns.js';
import { TEMPLATE_PLACEHOLDERS, type TemplatePlaceholder } from '../src/drops/types.js';
import { systemScope } from '../src/tenancy/system-scope.js';
import { cliArgs, cliConfig, cliDb, cliPractice, fail } from './cli-support.js';

const USAGE = 'usage: npm run audio:render -- --practice <id or slug> --template <id> [--param name=value ...] [--out file.wav]';

const { values } = cliArgs(USAGE, {
  options: {
    practice: { type: 'string' },
    template: { type: 'string' },
    param: { type: 'string', multiple: true },
    out: { type: 'string' },
  },
});
if (!values.practice || !values.template) fail(USAGE);
const params: Partial<Record<TemplatePlaceholder, string>> = {};
for (const p of values.param ?? []) {
  const m = /^([a-z_]+)=(.*)$/s.exec(p);
  if (!m || !(TEMPLATE_PLACEHOLDERS as readonly string[]).includes(m[1] ?? '')) fail(`--param: expected name=value with a name among ${TEMPLATE_PLACEHOLDERS.join(', ')}`);
  params[m[1] as TemplatePlaceholder] = m[2] ?? '';
}

function tts(out: string, text: string): Promise<void> {
  const custom = process.env['AUDIO_TTS_COMMAND'];
  const [cmd, args] = custom ? ['sh', ['-c', custom.replaceAll('{out}', JSON.stringify(out))]] : ['espeak-ng', ['-v', 'en-us', '-s', '150', '-w', out, '--stdin']];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args as string[], { stdio: ['pipe', 'inherit', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited with ${code}`))));
    child.stdin.end(text);
  });
}

const config = cliConfig();
const db = cliDb(config);
try {
  const practice = await cliPractice(db, config, values.practice);
  const rendered = await renderFor(systemScope({ db }, practice.id), practice, values.template, params);
  if (!rendered.ok) fail(`the message cannot be rendered: ${rendered.problems.map((p) => `${p.kind} "${p.term}"`).join(', ')}`);
  if (rendered.personal.length > 0) fail(`a recording says the same words to everyone: this template speaks each recipient's own ${rendered.personal.map((n) => `{${n}}`).join(', ')} (use text-to-speech)`);
  const out = values.out ?? `${values.template}-${practice.slug}.wav`;
  if (!AUDIO_FILE.test(out)) fail('--out: expected a file name such as recall-demo.wav (lower case, digits, . _ -)');
  await mkdir(config.audioDir, { recursive: true });
  const file = path.join(config.audioDir, out);
  try {
    await tts(file, rendered.text);
  } catch (err) {
    await rm(file, { force: true });
    fail(`text-to-speech failed (${err instanceof Error ? err.message : String(err)}): install espeak-ng (apt-get install espeak-ng) or set AUDIO_TTS_COMMAND`);
  }
  await writeFile(transcriptPath(config.audioDir, out), `${rendered.text}\n`);
  console.log(`wrote ${path.relative(process.cwd(), file)} (${rendered.seconds} s) and its transcript:\n  ${rendered.text}`);
  console.log(`use it with: npm run campaign -- create … --audio-file ${out}   (or "audioFile" in POST /api/campaigns)`);
} finally {
  await db.destroy();
}
