//! Power: the boot URCs of a power-on, a restart (`AT+CRESET`, `AT+CFUN=1,1`, the control
//! channel's reboot) and a power-off (`AT+CPOF`).

use super::{Ctx, Modem, PowerRequest, Settings, Urc};
use tracing::info;

/// Boot URC `tag` of this power-on is due.
fn boot_urc(ctx: &mut Ctx, tag: u64) {
    if let Some(u) = usize::try_from(tag).ok().and_then(|i| ctx.boot_urcs.get(i)) {
        ctx.urcs.push(Urc::Line((*u).to_owned()));
        ctx.awake = true;
    }
}

impl Modem {
    /// Do what `ctx.power` asks for, if anything.
    pub(super) fn power_request(&mut self) {
        match std::mem::take(&mut self.ctx.power) {
            PowerRequest::None => {}
            PowerRequest::Restart => self.restart(),
            PowerRequest::Off => self.power_down(),
        }
    }

    /// Every port's settings from the factory's and the saved profile (power-on).
    pub(super) fn load_settings(&mut self) {
        let settings = self.power_on_settings();
        for port in &mut self.ports {
            port.settings = settings.clone();
        }
        self.ctx.settings = settings;
    }

    /// A port's settings at power-on: the factory's, then the saved profile.
    pub(super) fn power_on_settings(&self) -> Settings {
        let mut settings = Settings::factory(self.ctx.settings.ipr);
        if let Some(p) = self.ctx.saved_profile() {
            settings.apply(&p);
        }
        settings
    }

    /// The boot URCs as timers: the first at 30 % of the boot delay, the last at 100 %.
    pub(super) fn schedule_boot(&mut self) {
        let ctx = &mut self.ctx;
        ctx.boot_urcs = ctx.profile.boot_urcs(ctx.net.sim_locked());
        let n = ctx.boot_urcs.len().max(2) - 1;
        for i in 0..ctx.boot_urcs.len() {
            let frac = 0.3 + 0.7 * (i as f64 / n as f64);
            ctx.after(self.boot_delay.mul_f64(frac), "boot", boot_urc, i as u64);
        }
        for hook in ctx.catalog.services.iter().filter_map(|s| s.on_power_on) {
            hook(ctx);
        }
    }

    /// Everything stopped, as for a restart, but no boot follows: the module answers
    /// nothing (it is off).
    pub(super) fn power_down(&mut self) {
        info!("module powered off");
        self.stop_everything();
    }

    /// What a restart and a power-off share: jobs, timers, services, input and URCs gone.
    fn stop_everything(&mut self) {
        self.stop_mux();
        self.ctx.mux = Default::default();
        for port in &mut self.ports {
            port.reset();
        }
        self.ctx.jobs.abort_all();
        self.frames.clear();
        self.ctx.services.reset();
        self.ctx.timers.clear();
        self.ctx.urcs.clear();
        self.ctx.device = Default::default();
        self.ctx.online.clear();
        self.ctx.urc_route = Default::default();
        self.ctx.awake = false;
    }

    /// Power-cycle: every job stopped, every service and timer back to its power-on
    /// state, every port's settings from the saved profile (each keeps its rate), boot
    /// URCs again.
    pub(super) fn restart(&mut self) {
        info!("module restarting");
        let rates: Vec<u32> = (0..self.ports.len()).map(|p| self.baud_on(p)).collect();
        self.load_settings();
        for (p, rate) in rates.into_iter().enumerate() {
            if p == self.ctx.port {
                self.ctx.settings.ipr = rate;
            } else {
                self.ports[p].settings.ipr = rate;
            }
        }
        self.ctx.net.restart();
        self.ctx.efs.cwd = crate::efs::EfsPath::root(crate::efs::Drive::C);
        self.stop_everything();
        self.schedule_boot();
        self.handle_timeout(self.ctx.now);
    }
}
