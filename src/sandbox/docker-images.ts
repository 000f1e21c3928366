import type Docker from 'dockerode';
import type { Readable } from 'node:stream';

/** The label on every image kiln builds for a custom runtime: the image sweep looks at these only. */
export const RUNTIME_IMAGE_LABEL = 'kiln.runtime-image';

/** Image operations of custom runtimes: inspect, build from a context tar, list kiln's, remove. */
export interface DockerImages {
  /** The image's id (`sha256:…`), or null when the engine does not have it. */
  id(image: string): Promise<string | null>;
  /**
   * Builds `tag` from a context tar (a Dockerfile and what it ADDs), labelled as kiln's. Resolves
   * once the image exists; rejects with the builder's own error message.
   */
  build(context: Readable, tag: string, labels: Record<string, string>): Promise<void>;
  /** Tags of the images this instance of kiln built for custom runtimes (another's store names its own). */
  listRuntimeImages(instance: string): Promise<string[]>;
  /** Removes an image; false when a container still uses it (it is tried again later). */
  remove(tag: string): Promise<boolean>;
}

export function createDockerImages(docker: Docker): DockerImages {
  return {
    async id(image) {
      try {
        return (await docker.getImage(image).inspect()).Id;
      } catch (error) {
        if ((error as { statusCode?: number }).statusCode === 404) return null;
        throw error;
      }
    },
    async build(context, tag, labels) {
      // A context that fails on the way (a refused tree) must end the build, not leave the engine
      // waiting for the rest of it: the request is aborted, and the context's error is the reason.
      const abort = new AbortController();
      let refused: Error | undefined;
      context.on('error', (error: Error) => {
        refused ??= error;
        abort.abort(error);
      });
      const stream = await docker
        .buildImage(context, {
          t: tag,
          labels: { ...labels, [RUNTIME_IMAGE_LABEL]: 'true' },
          rm: true,
          forcerm: true,
          nocache: false,
          abortSignal: abort.signal,
        })
        .catch((error: Error) => {
          throw refused ?? error;
        });
      // The build's outcome is in its progress stream: an `error` entry, not a failed request.
      await new Promise<void>((resolve, reject) => {
        docker.modem.followProgress(stream, (error: Error | null, output: { error?: string; errorDetail?: { message?: string } }[]) => {
          const failed = output?.find((o) => o.error || o.errorDetail);
          if (refused) reject(refused);
          else if (error) reject(error);
          else if (failed) reject(new Error(failed.errorDetail?.message ?? failed.error));
          else resolve();
        });
      });
    },
    async listRuntimeImages(instance) {
      const images = await docker.listImages({ filters: { label: [`${RUNTIME_IMAGE_LABEL}=true`, `kiln.instance=${instance}`] } });
      return images.flatMap((i) => (i.RepoTags ?? []).filter((t) => t !== '<none>:<none>'));
    },
    async remove(tag) {
      try {
        await docker.getImage(tag).remove();
        return true;
      } catch (error) {
        const status = (error as { statusCode?: number }).statusCode;
        if (status === 404) return true;
        if (status === 409) return false; // in use by a container
        throw error;
      }
    },
  };
}
