/** Kernel registrations that make the wasm backend fast and complete for GAN training (work in progress). */
export function registerWasmKernels(): void {}
