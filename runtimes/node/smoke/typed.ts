// Smoke program: TypeScript with annotations, an interface, an enum and a type error that must not block the run.
interface Input { name: string }
enum Shade { Light = 'light', Dark = 'dark' }

export function execute(input: Input): { greeting: string; shade: Shade; count: number } {
  const count: number = 'not a number' as unknown as number; // a type lie: transpiled, never checked
  console.log('hello from typescript');
  return { greeting: `Hello, ${input.name}`, shade: Shade.Dark, count: count.length };
}
