/**
 * "Proppo Lab: open tutorials": a command (palette, launcher card) that asks the
 * server extension (proppo_lab/server.py, POST proppo-lab/tutorials) to copy the
 * tutorial notebooks into `proppo-tutorials/` under the server's root (files
 * the user already has are never overwritten), then opens the first one.
 */
import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, showErrorMessage } from '@jupyterlab/apputils';
import { URLExt } from '@jupyterlab/coreutils';
import { ILauncher } from '@jupyterlab/launcher';
import { ServerConnection } from '@jupyterlab/services';
import { notebookIcon } from '@jupyterlab/ui-components';

export const OPEN_TUTORIALS = 'proppo-lab:open-tutorials';

interface ICopyReply {
  folder: string;
  notebooks: string[];
  copied: string[];
  kept: string[];
}

async function copyTutorials(): Promise<ICopyReply> {
  const settings = ServerConnection.makeSettings();
  const url = URLExt.join(settings.baseUrl, 'proppo-lab', 'tutorials');
  const reply = await ServerConnection.makeRequest(
    url,
    { method: 'POST', body: '{}' },
    settings
  );
  const text = await reply.text();
  if (!reply.ok) {
    throw new Error(
      `the server could not copy the tutorials (${reply.status}): ${text}`
    );
  }
  return JSON.parse(text) as ICopyReply;
}

export const tutorialsPlugin: JupyterFrontEndPlugin<void> = {
  id: 'proppo-lab:tutorials',
  description:
    'Copy the proppo_lab tutorials into the working folder and open the first.',
  autoStart: true,
  optional: [ICommandPalette, ILauncher],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    launcher: ILauncher | null
  ): void => {
    app.commands.addCommand(OPEN_TUTORIALS, {
      label: 'Proppo Lab: open tutorials',
      caption:
        'Copy the proppo_lab tutorials into proppo-tutorials/ and open the first',
      icon: notebookIcon,
      execute: async () => {
        try {
          const reply = await copyTutorials();
          if (!reply.notebooks.length) {
            throw new Error(
              'no tutorial notebooks were found in the installed package'
            );
          }
          return await app.commands.execute('docmanager:open', {
            path: reply.notebooks[0]
          });
        } catch (err) {
          void showErrorMessage(
            'Proppo Lab tutorials',
            String((err as Error).message || err)
          );
          return undefined;
        }
      }
    });
    palette?.addItem({ command: OPEN_TUTORIALS, category: 'Proppo Lab' });
    launcher?.add({ command: OPEN_TUTORIALS, category: 'Notebook', rank: 50 });
  }
};
