/** Types of ava.unit.config.mjs for the tier test. */
export declare const UNIT_FILES: string[];
declare const config: Record<string, unknown>;
export default config;
