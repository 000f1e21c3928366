// kiln's stand-in for ConductorOne's @c1/functions-sdk, so that a C1 function's usual
// `import { JSONObject } from "@c1/functions-sdk"` (a type, which Node's type stripping keeps as an
// import) links and runs. What C1's runtime provides beyond that, kiln does not: using it throws
// an error that says so, and the invocation ends in FUNCTION_INVOCATION_STATUS_ERROR with it.
const missing = (what) => {
  throw new Error(`${what} is ConductorOne's; kiln does not provide it. Pass what the function needs in its input, or bind secrets to the tool (kiln README: ConductorOne functions)`);
};

/** A type in C1's SDK; a value here only so that importing it links. */
export const JSONObject = undefined;
export const JSONValue = undefined;

export const functions = {
  getConfig: () => missing('functions.getConfig()'),
};

export const sdk = new Proxy({}, { get: (_target, name) => (typeof name === 'symbol' ? undefined : missing(`sdk.${name}`)) });

export default { functions, sdk };
