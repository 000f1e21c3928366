// Smoke program: exercises an async execute, input, stdout, stderr, a file and a nested return value.
import { readFile } from 'node:fs/promises';

async function execute(input) {
  console.log('hello from javascript');
  console.error('to stderr');
  const greeting = (await readFile('/mnt/req/data/greeting.txt', 'utf8')).trim();
  return { greeting: `${greeting}, ${input.name}`, squares: [0, 1, 2, 3].map((n) => n * n), none: null };
}
