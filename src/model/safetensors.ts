// The safetensors format, in four files under safetensors/: headers and raw reads (header.ts), the
// float16/bfloat16 conversions (float16.ts), tensor reads (read.ts) and writing (write.ts).

export { dtypeSize, readFileRange, readSafetensorsHeader, type SafetensorsHeader } from './safetensors/header.ts';
export { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from './safetensors/float16.ts';
export { readTensorF32, readTensorF64, readTensorRowsF32 } from './safetensors/read.ts';
export { safetensorsWriter, writeSafetensors, type TensorToWrite, type WritableDType } from './safetensors/write.ts';
