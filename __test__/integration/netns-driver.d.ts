// Types of netns-driver.js.
import type { ChildProcess } from 'node:child_process';

export declare class Child {
  readonly registry: Set<Child>;
  readonly label: string;
  readonly proc: ChildProcess;
  stdout: string;
  stderr: string;
  readonly exited: Promise<number | null>;
  constructor(registry: Set<Child>, label: string, netns: string, script: string, cfg: object, killMs: number);
  call<T>(cmd: string, args?: object, ms?: number): Promise<T>;
}

export declare function killAll(registry: Set<Child>): Promise<void>;
