import { useEffect, useMemo } from 'react';
import { Navigate, RouterProvider, createBrowserRouter, useNavigate, useOutletContext, Outlet } from 'react-router';
import { QueryClient, QueryClientProvider, useQueryClient } from '@tanstack/react-query';
import { MantineProvider, type MantineColorSchemeManager } from '@mantine/core';
import { setUnauthorizedHandler } from './api/client';
import { SESSION_KEY } from './api/session';
import { SignInPage } from './auth/sign-in';
import { AcceptInvitationPage } from './auth/accept-invitation';
import { ResetPasswordPage } from './auth/reset-password';
import { RequireSession } from './shell/shell';
import { CallsPage } from './pages/calls';
import { CallbackTaskPage, CallbacksPage } from './pages/callbacks/callbacks';
import { VoicemailPage } from './pages/voicemail/voicemail';
import { PageViewPage } from './pages/page-view/page-view';
import { PatientsSection } from './pages/patients/patients-page';
import { OnCallPage } from './pages/oncall/oncall-page';
import { SettingsPage } from './pages/settings/settings-page';
import { CampaignsSection } from './pages/campaigns/campaigns-page';
import { OvernightPage } from './pages/overnight/overnight-page';
import { CallTimelinePage } from './pages/calls/call-timeline';
import { AuditPage } from './pages/audit/audit-page';
import { activeRole } from './api/session';
import type { Session } from './api/types';
import { Empty } from './components/states';
import { usePageTitle } from './components/page-title';

/** Mantine keeps the colour scheme in localStorage by default; the console keeps nothing in browser storage. */
const memoryColorScheme: MantineColorSchemeManager = {
  get: (fallback) => fallback,
  set: () => undefined,
  subscribe: () => undefined,
  unsubscribe: () => undefined,
  clear: () => undefined,
};

/** Any request answered 401 (the session ended on the server): forget everything, go to sign-in. */
function UnauthorizedToSignIn() {
  const client = useQueryClient();
  const navigate = useNavigate();
  useEffect(() => {
    setUnauthorizedHandler(() => {
      client.clear();
      client.setQueryData(SESSION_KEY, null);
      void navigate('/sign-in', { replace: true, state: { reason: 'expired' } });
    });
    return () => setUnauthorizedHandler(null);
  }, [client, navigate]);
  return <Outlet />;
}

/** The first page after sign-in: the morning report for admins and staff, the call log for the others. */
function Home() {
  const role = activeRole(useOutletContext<Session>());
  return <Navigate to={role === 'admin' || role === 'staff' ? '/overnight' : '/calls'} replace />;
}

function NotFound() {
  usePageTitle('Not found');
  return <Empty>There is no page here.</Empty>;
}

export function createRouter() {
  return createBrowserRouter(
    [
      {
        element: <UnauthorizedToSignIn />,
        children: [
          { path: '/sign-in', element: <SignInPage /> },
          // The links of invitations and password resets (src/auth/accounts.ts linkFor): outside the signed-in shell.
          { path: '/accept-invitation', element: <AcceptInvitationPage /> },
          { path: '/reset-password', element: <ResetPasswordPage /> },
          {
            path: '/',
            element: <RequireSession />,
            children: [
              { index: true, element: <Home /> },
              { path: 'overnight', element: <OvernightPage /> },
              { path: 'calls/:callSid', element: <CallTimelinePage /> },
              { path: 'audit', element: <AuditPage /> },
              { path: 'calls', element: <CallsPage /> },
              { path: 'callbacks', element: <CallbacksPage /> },
              { path: 'callbacks/:taskId', element: <CallbackTaskPage /> },
              { path: 'voicemail', element: <VoicemailPage /> },
              { path: 'pages/:pageId', element: <PageViewPage /> },
              { path: 'patients/*', element: <PatientsSection /> },
              { path: 'on-call', element: <OnCallPage /> },
              { path: 'settings', element: <SettingsPage /> },
              { path: 'campaigns/*', element: <CampaignsSection /> },
              { path: '*', element: <NotFound /> },
            ],
          },
        ],
      },
    ],
    { basename: '/console' },
  );
}

export function App() {
  const client = useMemo(() => new QueryClient({ defaultOptions: { queries: { refetchOnWindowFocus: false, gcTime: 5 * 60_000 } } }), []);
  const router = useMemo(() => createRouter(), []);
  return (
    // Styles come from the bundle's CSS file only (CSP style-src 'self'): Mantine's default
    // variables are in its styles.css, so it injects no <style> element of its own.
    <MantineProvider withCssVariables={false} withGlobalClasses={false} colorSchemeManager={memoryColorScheme} forceColorScheme="light">
      <QueryClientProvider client={client}>
        <RouterProvider router={router} />
      </QueryClientProvider>
    </MantineProvider>
  );
}
