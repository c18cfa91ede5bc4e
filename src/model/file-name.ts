// Shard names come from a checkpoint's index (on disk, or from the hub) and become file names: they
// must name a file in the model folder on every OS, so the check is the same on all of them.

/** Windows device names, which name no file in any folder (`nul.safetensors` is the null device). */
const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[1-9]|lpt[1-9])(\.|$)/i;

/**
 * True for a plain `*.safetensors` file name: no folder part (`/`, `\`, a drive's `:`), not hidden,
 * none of the characters or endings Windows refuses or strips, not a device name.
 */
export function isShardFileName(name: unknown): name is string {
  return (
    typeof name === 'string' &&
    name.endsWith('.safetensors') &&
    name.length <= 255 &&
    !name.startsWith('.') &&
    !/[/\\:*?"<>|\u0000-\u001f]/.test(name) &&
    !WINDOWS_DEVICE.test(name)
  );
}
